"""Events: ingestion (single and batch) and reads by id."""

from __future__ import annotations

from typing import Any, cast
from uuid import UUID

from fastapi import APIRouter, HTTPException, Request
from pydantic import ValidationError
from starlette.responses import Response

from eventpulse.application.ingest import IngestOutcome
from eventpulse.domain.errors import FieldError, InvalidInput, NotFound, PayloadTooLarge
from eventpulse.interfaces.http.body import read_json
from eventpulse.interfaces.http.deps import Services
from eventpulse.interfaces.http.errors import field_errors, json_response
from eventpulse.interfaces.http.schemas import (
    EVENT_IN,
    EVENT_LIST_IN,
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
    document = await read_json(request, services.limits.max_body_bytes)
    try:
        record = EVENT_IN.validate_python(document)
    except ValidationError as exc:
        raise InvalidInput(field_errors(exc)[None], "invalid event") from None
    outcome = await services.ingest.submit([(0, cast(dict[str, Any], record))])
    if outcome.rejected:
        raise InvalidInput(outcome.rejected[0][1], "invalid event")
    return json_response({"event_id": outcome.event_ids[0], "status": "accepted"}, 202)


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
    documents = await read_json(request, services.limits.max_body_bytes)
    if not isinstance(documents, list):
        raise InvalidInput([FieldError("body", "expected a JSON array of events")], "invalid batch")
    limit = services.limits.max_batch_events
    if len(documents) > limit:
        raise PayloadTooLarge(f"batch holds {len(documents)} events; the limit is {limit}")
    if not documents:
        raise HTTPException(400, "batch is empty")
    valid, rejected = _validate_batch(documents)
    outcome = await services.ingest.submit(valid) if valid else IngestOutcome()
    rejected.extend(outcome.rejected)
    rejected.sort(key=lambda item: item[0])
    body: dict[str, Any] = {
        "accepted": len(outcome.event_ids),
        "event_ids": outcome.event_ids,
        "rejected": [
            {"index": index, "errors": [e.as_dict() for e in errors]} for index, errors in rejected
        ],
    }
    if not outcome.event_ids:
        body["detail"] = "no valid event in the batch"
        return json_response(body, 400)
    return json_response(body, 202)


def _validate_batch(
    documents: list[Any],
) -> tuple[list[tuple[int, dict[str, Any]]], list[tuple[int, list[FieldError]]]]:
    try:
        records = EVENT_LIST_IN.validate_python(documents)
    except ValidationError as exc:
        errors = field_errors(exc, skip=1)
    else:
        return [(i, cast(dict[str, Any], r)) for i, r in enumerate(records)], []
    # Slow path, only for batches with invalid items: keep the good ones.
    valid = [
        (i, cast(dict[str, Any], EVENT_IN.validate_python(doc)))
        for i, doc in enumerate(documents)
        if i not in errors
    ]
    return valid, [(i, errs) for i, errs in errors.items() if i is not None]


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
    return json_response(
        {
            "event_id": event.event_id,
            "event_type": event.event_type,
            "source": event.source,
            "timestamp": event.ts,
            "payload": event.payload,
            "received_at": event.received_at,
        },
        200,
    )
