"""Rules: versioned CRUD. Every change stores an immutable version; DELETE keeps the history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from eventpulse.application.rules import MAX_PAGE
from eventpulse.interfaces.http.access import ADMIN, READ
from eventpulse.interfaces.http.body import request_json
from eventpulse.interfaces.http.deps import Services
from eventpulse.interfaces.http.errors import json_response
from eventpulse.interfaces.http.rule_schemas import (
    EnabledIn,
    RuleIn,
    RuleListOut,
    RuleOut,
    RuleVersionListOut,
)
from eventpulse.interfaces.http.schemas import ErrorOut

router = APIRouter(prefix="/rules", tags=["rules"])

_RULE_SCHEMA = RuleIn.model_json_schema(ref_template="#/components/schemas/{model}")
_BODY = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": _RULE_SCHEMA}}}
}
_WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 404, 413, 415, 422, 503)
}
_READ_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (404, 422, 503)
}

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
Cursor = Annotated[str | None, Query(description="`next_cursor` of the previous page")]
Note = Annotated[str | None, Query(max_length=1000, description="Why; kept with the version")]


@router.get(
    "",
    response_model=RuleListOut,
    responses=_READ_ERRORS,
    summary="Live rules",
    dependencies=[READ],
)
async def list_rules(services: Services, limit: Limit = 100, cursor: Cursor = None) -> Response:
    """Live rules in ascending `rule_id` order; follow `next_cursor` until it is null."""
    page = await services.rules.list(limit, cursor)
    items = [rule.resource() for rule in page.items]
    return json_response({"items": items, "next_cursor": page.next_cursor}, 200)


@router.post(
    "",
    status_code=201,
    response_model=RuleOut,
    responses={**_WRITE_ERRORS, 409: {"model": ErrorOut}},
    openapi_extra=_BODY,
    summary="Create a rule (version 1)",
    dependencies=[ADMIN],
)
async def create_rule(request: Request, services: Services, note: Note = None) -> Response:
    """`rule_id` is optional (derived from the name); 409 if a live rule has it. A deleted
    rule's id may be reused: the rule comes back with the next version of its history."""
    document = await request_json(request, services.limits.max_body_bytes)
    rule = await services.rules.create(document, note)
    location = f"{request.url.path.rstrip('/')}/{rule.rule_id}"
    return json_response(rule.resource(), 201, {"Location": location})


@router.get(
    "/{rule_id}",
    response_model=RuleOut,
    responses=_READ_ERRORS,
    summary="A live rule",
    dependencies=[READ],
)
async def get_rule(rule_id: str, services: Services) -> Response:
    rule = await services.rules.get(rule_id)
    return json_response(rule.resource(), 200)


@router.put(
    "/{rule_id}",
    response_model=RuleOut,
    responses=_WRITE_ERRORS,
    openapi_extra=_BODY,
    summary="Replace a rule (next version)",
    dependencies=[ADMIN],
)
async def put_rule(
    rule_id: str, request: Request, services: Services, note: Note = None
) -> Response:
    """A document equal to the live one stores no version and answers the live one."""
    document = await request_json(request, services.limits.max_body_bytes)
    rule = await services.rules.replace(rule_id, document, note)
    return json_response(rule.resource(), 200)


@router.patch(
    "/{rule_id}",
    response_model=RuleOut,
    responses=_WRITE_ERRORS,
    summary="Enable or disable",
    dependencies=[ADMIN],
)
async def patch_rule(rule_id: str, body: EnabledIn, services: Services) -> Response:
    rule = await services.rules.set_enabled(rule_id, body.enabled)
    return json_response(rule.resource(), 200)


@router.delete(
    "/{rule_id}",
    status_code=204,
    responses=_READ_ERRORS,
    summary="Delete (history is kept)",
    dependencies=[ADMIN],
)
async def delete_rule(rule_id: str, services: Services) -> Response:
    await services.rules.delete(rule_id)
    return Response(status_code=204)


@router.get(
    "/{rule_id}/versions",
    response_model=RuleVersionListOut,
    responses=_READ_ERRORS,
    summary="A rule's versions, oldest first (deleted rules too)",
    dependencies=[READ],
)
async def list_versions(
    rule_id: str, services: Services, limit: Limit = 100, cursor: Cursor = None
) -> Response:
    page = await services.rules.versions(rule_id, limit, cursor)
    items = [version.resource() for version in page.items]
    return json_response({"items": items, "next_cursor": page.next_cursor}, 200)
