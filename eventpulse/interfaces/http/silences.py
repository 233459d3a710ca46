"""Silences: "do not send anomalies like these for a while" (see domain/silences.py).

Create, read, list (active and future ones; `include_expired=true` adds the expired ones) and
delete (the row is kept, marked deleted). Validation is `silence_from_document`'s; the models
below only describe the documents in OpenAPI.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from eventpulse.application.queries import DEFAULT_LIMIT
from eventpulse.application.silences import StoredSilence
from eventpulse.interfaces.http.access import ADMIN, READ
from eventpulse.interfaces.http.body import request_json
from eventpulse.interfaces.http.deps import Services
from eventpulse.interfaces.http.errors import json_response
from eventpulse.interfaces.http.paging import Cursor, Limit, list_body
from eventpulse.interfaces.http.schemas import ErrorOut

router = APIRouter(prefix="/silences", tags=["silences"])


class MatchersDoc(BaseModel):
    """At least one matcher; each one given must agree (a rule id / severity among those
    listed, each group field equal). Empty ones are left out of the stored matchers."""

    model_config = ConfigDict(extra="forbid")

    rule_id: list[str] = []
    severity: list[str] = Field(default=[], description="info, warning or critical")
    group: dict[str, Any] = {}


class SilenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    matchers: MatchersDoc
    starts_at: datetime | None = Field(default=None, description="RFC 3339; default now")
    ends_at: datetime | None = Field(default=None, description="RFC 3339; or give duration")
    duration: str | None = Field(default=None, description="e.g. `2h`; or give ends_at")
    comment: str = Field(default="", max_length=1000)
    created_by: str = Field(default="", max_length=1000)


class SilenceOut(BaseModel):
    silence_id: str
    matchers: MatchersDoc
    starts_at: datetime
    ends_at: datetime
    comment: str
    created_by: str
    created_at: datetime


class SilenceListOut(BaseModel):
    items: list[SilenceOut]
    next_cursor: str | None


_SCHEMA = SilenceIn.model_json_schema(ref_template="#/components/schemas/{model}")
_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": _SCHEMA}}}}
_ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorOut} for code in (404, 503)}
_WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 413, 415, 422, 503)
}

IncludeExpired = Annotated[bool, Query(description="Also list silences that are over")]


@router.post(
    "",
    status_code=201,
    response_model=SilenceOut,
    responses=_WRITE_ERRORS,
    openapi_extra=_BODY,
    summary="Create a silence",
    dependencies=[ADMIN],
)
async def create_silence(request: Request, services: Services) -> Response:
    """Exactly one of `ends_at` and `duration`; `ends_at` must be after `starts_at` and in the
    future. 422 names every field at fault."""
    document = await request_json(request, services.limits.max_body_bytes)
    stored = await services.silences.create(document)
    location = f"{request.url.path.rstrip('/')}/{stored.silence.silence_id}"
    return json_response(stored.resource(), 201, {"Location": location})


@router.get(
    "",
    response_model=SilenceListOut,
    responses={422: {"model": ErrorOut}, 503: {"model": ErrorOut}},
    summary="Silences not yet over (by creation)",
    dependencies=[READ],
)
async def list_silences(
    services: Services,
    include_expired: IncludeExpired = False,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    """Active and future silences in creation order (`include_expired=true` adds those that
    are over; deleted ones never show); follow `next_cursor` until it is null."""
    page = await services.silences.list(include_expired=include_expired, limit=limit, cursor=cursor)
    return json_response(list_body(page, StoredSilence.resource), 200)


@router.get(
    "/{silence_id}",
    response_model=SilenceOut,
    responses=_ERRORS,
    summary="One silence",
    dependencies=[READ],
)
async def get_silence(silence_id: str, services: Services) -> Response:
    return json_response((await services.silences.get(silence_id)).resource(), 200)


@router.delete(
    "/{silence_id}",
    status_code=204,
    responses=_ERRORS,
    summary="Delete (end) a silence",
    dependencies=[ADMIN],
)
async def delete_silence(silence_id: str, services: Services) -> Response:
    await services.silences.delete(silence_id)
    return Response(status_code=204)
