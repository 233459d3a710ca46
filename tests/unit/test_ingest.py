from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import uuid4

import pytest

from eventpulse.application.event_codec import encode_event
from eventpulse.application.ingest import IngestEvents, IngestLimits, IngestOutcome
from eventpulse.domain.errors import FieldError, StreamBackpressure, StreamUnavailable
from tests.unit.fakes import FakeQueue

RECEIVED = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def clock() -> datetime:
    return RECEIVED


def ingest(queue: FakeQueue, *, max_event_bytes: int = 64 * 1024, **kwargs: Any) -> IngestEvents:
    return IngestEvents(queue, IngestLimits(max_event_bytes), clock=clock, **kwargs)


def submit(use_case: IngestEvents, *records: dict[str, Any]) -> IngestOutcome:
    return asyncio.run(use_case.submit(list(enumerate(records))))


def event(**fields: Any) -> dict[str, Any]:
    """A record as the HTTP edge hands it over after validation."""
    return {"event_type": "login", "source": "web", **fields}


def test_an_event_without_id_gets_a_new_one() -> None:
    queue, assigned = FakeQueue(), uuid4()
    use_case = ingest(queue, new_ids=lambda n: iter([assigned] * n))

    outcome = submit(use_case, event())

    assert outcome.event_ids == [assigned]
    assert outcome.rejected == []
    assert queue.events[0]["event_id"] == str(assigned)


def test_an_event_with_an_id_keeps_it() -> None:
    queue, given = FakeQueue(), uuid4()

    outcome = submit(ingest(queue), event(event_id=given), event(event_id=None))

    assert outcome.event_ids[0] == given
    assert [e["event_id"] for e in queue.events] == [str(i) for i in outcome.event_ids]
    assert outcome.event_ids[1] != given


def test_a_timestamp_with_an_offset_is_queued_in_utc() -> None:
    queue = FakeQueue()
    local = datetime(2024, 5, 1, 9, 15, tzinfo=timezone(timedelta(hours=-5)))

    submit(ingest(queue), event(timestamp=local))

    assert queue.events[0]["timestamp"] == "2024-05-01T14:15:00Z"


def test_an_event_without_timestamp_happened_when_it_was_received() -> None:
    queue = FakeQueue()

    submit(ingest(queue), event(), event(timestamp=None))

    for queued in queue.events:
        assert queued["timestamp"] == "2024-05-01T12:00:00Z"
        assert queued["received_at"] == "2024-05-01T12:00:00Z"


def test_the_events_of_one_submission_share_one_receive_time() -> None:
    queue = FakeQueue()
    ticks = iter([RECEIVED, RECEIVED + timedelta(seconds=1), RECEIVED + timedelta(seconds=2)])
    use_case = IngestEvents(queue, IngestLimits(), clock=ticks.__next__)

    submit(use_case, event(), event())

    assert {e["received_at"] for e in queue.events} == {"2024-05-01T12:00:00Z"}


@pytest.mark.parametrize(
    "fields", [pytest.param({}, id="absent"), pytest.param({"payload": None}, id="null")]
)
def test_an_event_without_payload_is_queued_with_an_empty_object(fields: dict[str, Any]) -> None:
    queue = FakeQueue()

    submit(ingest(queue), event(**fields))

    assert queue.events[0]["payload"] == {}


def test_a_payload_is_queued_as_given() -> None:
    queue = FakeQueue()
    payload = {"user": "ada", "attempts": 3, "geo": {"lat": 1.5}, "tags": ["x"]}

    submit(ingest(queue), event(payload=payload))

    assert queue.events[0]["payload"] == payload


def encoded_size(record: dict[str, Any]) -> int:
    full = {**record, "event_id": uuid4(), "timestamp": RECEIVED, "received_at": RECEIVED}
    return len(encode_event(full))


def test_an_event_of_exactly_the_size_limit_is_accepted() -> None:
    queue, record = FakeQueue(), event(payload={"blob": "x" * 500})

    outcome = submit(ingest(queue, max_event_bytes=encoded_size(record)), record)

    assert len(outcome.event_ids) == 1
    assert len(queue.events) == 1


def test_an_oversize_event_is_rejected_naming_the_payload_and_is_not_queued() -> None:
    queue = FakeQueue()
    small, big = event(payload={"blob": "x"}), event(payload={"blob": "x" * 500})
    limit = encoded_size(big) - 1

    outcome = submit(ingest(queue, max_event_bytes=limit), small, big)

    assert len(outcome.event_ids) == 1
    [(index, [error])] = outcome.rejected
    assert index == 1
    assert error.field == "payload"
    assert f"the limit is {limit}" in error.message
    assert [e["payload"] for e in queue.events] == [{"blob": "x"}]


@pytest.mark.parametrize(
    ("record", "field"),
    [
        pytest.param(event(event_type="log\x00in"), "event_type", id="event_type"),
        pytest.param(event(source="\x00web"), "source", id="source"),
        pytest.param(event(payload={"note": "a\x00"}), "payload", id="payload-value"),
        pytest.param(event(payload={"k\x00": 1}), "payload", id="payload-key"),
        pytest.param(event(payload={"deep": [{"x": "\x00"}]}), "payload", id="payload-nested"),
    ],
)
def test_a_nul_character_is_rejected_naming_its_field_and_not_queued(
    record: dict[str, Any], field: str
) -> None:
    queue = FakeQueue()

    outcome = submit(ingest(queue), event(), record)

    assert outcome.rejected[0][0] == 1
    [error] = outcome.rejected[0][1]
    assert error.field == field
    assert "NUL" in error.message
    assert len(queue.events) == 1
    assert queue.events[0]["event_id"] == str(outcome.event_ids[0])


def test_rejections_carry_the_index_the_caller_gave() -> None:
    queue = FakeQueue()

    outcome = asyncio.run(
        ingest(queue).submit([(3, event()), (7, event(source="\x00")), (9, event())])
    )

    assert [index for index, _ in outcome.rejected] == [7]
    assert outcome.rejected[0][1] == [
        FieldError("source", "contains a NUL character (\\u0000), which cannot be stored")
    ]
    assert len(outcome.event_ids) == 2


def test_many_events_are_queued_in_one_call() -> None:
    queue = FakeQueue()

    outcome = submit(ingest(queue), *(event(payload={"n": n}) for n in range(50)))

    assert len(queue.appends) == 1
    assert [e["payload"]["n"] for e in queue.events] == list(range(50))
    assert len(outcome.event_ids) == 50


def test_the_queue_is_not_called_when_every_event_is_rejected() -> None:
    queue = FakeQueue()

    outcome = submit(ingest(queue), event(source="\x00"))

    assert outcome.event_ids == []
    assert queue.appends == []


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(StreamUnavailable("redis down", retry_after=2), id="unavailable"),
        pytest.param(StreamBackpressure("stream full", retry_after=5), id="backpressure"),
    ],
)
def test_a_queue_error_propagates_and_nothing_is_accepted(error: Exception) -> None:
    queue = FakeQueue(error=error)

    with pytest.raises(type(error)) as raised:
        submit(ingest(queue), event(), event())

    assert raised.value is error


def test_assigned_ids_are_distinct_random_version_4_uuids() -> None:
    from uuid import RFC_4122

    from eventpulse.application.ingest import random_ids

    ids = list(random_ids(1000))

    assert len(set(ids)) == 1000
    assert {(u.version, u.variant) for u in ids} == {(4, RFC_4122)}
