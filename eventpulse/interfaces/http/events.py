"""Events: ingestion (single and batch), the stored events filtered and paged, and reads by id."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from starlette.responses import Response

from eventpulse.application import queries
from eventpulse.application.event_codec import event_record
from eventpulse.domain.errors import NotFound
from eventpulse.interfaces.http.access import READ, Ingesting, ingest_cost
from eventpulse.interfaces.http.body import request_json
from eventpulse.interfaces.http.deps import Services
from eventpulse.interfaces.http.errors import json_response
from eventpulse.interfaces.http.ingestion import accept_batch, accept_one
from eventpulse.interfaces.http.paging import (
    LIST_ERRORS,
    Cursor,
    Limit,
    NameFilter,
    Since,
    Until,
    list_body,
)
from eventpulse.interfaces.http.schemas import (
    EVENT_IN,
    AcceptedOut,
    BatchAcceptedOut,
    BatchRejectedOut,
    ErrorOut,
    EventListOut,
    EventOut,
)

router = APIRouter(prefix="/events", tags=["events"])

_EVENT_SCHEMA = EVENT_IN.json_schema(ref_template="#/components/schemas/{model}")
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 413, 415, 422, 429, 503)
}


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


@router.post(
    "",
    status_code=202,
    response_model=AcceptedOut,
    responses=_ERRORS,
    openapi_extra=_json_body(_EVENT_SCHEMA),
    summary="Ingest one event",
)
async def post_event(request: Request, services: Services, caller: Ingesting) -> Response:
    """Answers 202 once the event is durably queued (Redis confirmed the write)."""
    document = await request_json(request, services.limits.max_body_bytes)
    services.access.charge(caller, ingest_cost(document))
    status, body = await accept_one(services, document)
    return json_response(body, status)


@router.post(
    "/batch",
    status_code=202,
    response_model=BatchAcceptedOut,
    # 400: no valid event (BatchRejectedOut), or no JSON array to read at all (ErrorOut).
    responses={**_ERRORS, 400: {"model": BatchRejectedOut | ErrorOut}},
    openapi_extra=_json_body({"type": "array", "items": _EVENT_SCHEMA}),
    summary="Ingest a batch of events",
)
async def post_batch(request: Request, services: Services, caller: Ingesting) -> Response:
    """Valid events are accepted even when others are not; 400 when none is valid."""
    documents = await request_json(request, services.limits.max_body_bytes)
    services.access.charge(caller, ingest_cost(documents))
    status, body = await accept_batch(services, documents)
    return json_response(body, status)


@router.get(
    "",
    response_model=EventListOut,
    responses=LIST_ERRORS,
    summary="Stored events",
    dependencies=[READ],
)
async def list_events(
    services: Services,
    event_type: NameFilter = None,
    source: NameFilter = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = queries.DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    """Events by ascending `timestamp` (then `event_id`), `since <= timestamp < until`; follow
    `next_cursor` until it is null."""
    page = await queries.list_events(
        services.events,
        event_type=event_type,
        source=source,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
    )
    return json_response(list_body(page, event_record), 200)


@router.get(
    "/{event_id}",
    response_model=EventOut,
    responses={code: {"model": ErrorOut} for code in (404, 422, 503)},
    summary="One stored event",
    dependencies=[READ],
)
async def get_event(event_id: UUID, services: Services) -> Response:
    event = await services.events.get(event_id)
    if event is None:
        raise NotFound(f"no event {event_id}")
    return json_response(event_record(event), 200)
