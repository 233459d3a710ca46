"""What the two ingestion endpoints do with a parsed body, whichever front received it.

The FastAPI routes (`events.py`, which also document them in OpenAPI) and the ASGI fast path
(`fast_ingest.py`) both call these, so validation, answers and errors are the same.
"""

from __future__ import annotations

import logging
from typing import Any, cast

from pydantic import ValidationError

from eventpulse.application.ingest import IngestOutcome
from eventpulse.domain.errors import FieldError, InvalidInput, PayloadTooLarge
from eventpulse.interfaces.http.deps import ApiServices
from eventpulse.interfaces.http.errors import BadBody, field_errors
from eventpulse.interfaces.http.schemas import EVENT_IN, EVENT_LIST_IN

Record = dict[str, Any]

log = logging.getLogger("eventpulse.ingest")


async def accept_one(services: ApiServices, document: Any) -> tuple[int, dict[str, Any]]:
    """202 once the event is durably queued; raises for anything else."""
    try:
        record = EVENT_IN.validate_python(document)
    except ValidationError as exc:
        raise InvalidInput(field_errors(exc)[None], "invalid event") from None
    outcome = await services.ingest.submit([(0, cast(Record, record))])
    if outcome.rejected:
        raise InvalidInput(outcome.rejected[0][1], "invalid event")
    if log.isEnabledFor(logging.DEBUG):  # the hottest path: no record unless asked for
        log.debug("event accepted", extra={"event_id": str(outcome.event_ids[0])})
    return 202, {"event_id": outcome.event_ids[0], "status": "accepted"}


async def accept_batch(services: ApiServices, documents: Any) -> tuple[int, dict[str, Any]]:
    """202 with the accepted ids and the rejected items; 400 when none is valid."""
    if not isinstance(documents, list):
        raise InvalidInput([FieldError("body", "expected a JSON array of events")], "invalid batch")
    limit = services.limits.max_batch_events
    if len(documents) > limit:
        raise PayloadTooLarge(f"batch holds {len(documents)} events; the limit is {limit}")
    if not documents:
        raise BadBody(400, "batch is empty")
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
        return 400, body
    if log.isEnabledFor(logging.DEBUG):
        log.debug("batch accepted: %d events, %d rejected", len(outcome.event_ids), len(rejected))
    return 202, body


def _validate_batch(
    documents: list[Any],
) -> tuple[list[tuple[int, Record]], list[tuple[int, list[FieldError]]]]:
    try:
        records = EVENT_LIST_IN.validate_python(documents)
    except ValidationError as exc:
        errors = field_errors(exc, skip=1)
    else:
        return [(i, cast(Record, r)) for i, r in enumerate(records)], []
    # Slow path, only for batches with invalid items: keep the good ones.
    valid = [
        (i, cast(Record, EVENT_IN.validate_python(doc)))
        for i, doc in enumerate(documents)
        if i not in errors
    ]
    return valid, [(i, errs) for i, errs in errors.items() if i is not None]
