"""Events: ingestion (single and batch) and reads by id."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from starlette.responses import Response

from eventpulse.application.event_codec import event_record
from eventpulse.domain.errors import NotFound
from eventpulse.interfaces.http.body import request_json
from eventpulse.interfaces.http.deps import Services
from eventpulse.interfaces.http.errors import json_response
from eventpulse.interfaces.http.ingestion import accept_batch, accept_one
from eventpulse.interfaces.http.schemas import (
    EVENT_IN,
    AcceptedOut,
    BatchAcceptedOut,
    BatchRejectedOut,
    ErrorOut,
    EventOut,
)

router = APIRouter(prefix="/events", tags=["events"])

_EVENT_SCHEMA = EVENT_IN.json_schema(ref_template="#/components/schemas/{model}")
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 413, 415, 422, 429, 503)
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
async def post_event(request: Request, services: Services) -> Response:
    """Answers 202 once the event is durably queued (Redis confirmed the write)."""
    document = await request_json(request, services.limits.max_body_bytes)
    status, body = await accept_one(services, document)
    return json_response(body, status)


@router.post(
    "/batch",
    status_code=202,
    response_model=BatchAcceptedOut,
    responses={**_ERRORS, 400: {"model": BatchRejectedOut}},
    openapi_extra=_json_body({"type": "array", "items": _EVENT_SCHEMA}),
    summary="Ingest a batch of events",
)
async def post_batch(request: Request, services: Services) -> Response:
    """Valid events are accepted even when others are not; 400 when none is valid."""
    documents = await request_json(request, services.limits.max_body_bytes)
    status, body = await accept_batch(services, documents)
    return json_response(body, status)


@router.get(
    "/{event_id}",
    response_model=EventOut,
    responses={404: {"model": ErrorOut}},
    summary="One stored event",
)
async def get_event(event_id: UUID, services: Services) -> Response:
    event = await services.events.get(event_id)
    if event is None:
        raise NotFound(f"no event {event_id}")
    return json_response(event_record(event), 200)
