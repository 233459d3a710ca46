"""POST /api/v1/events and /events/batch over a real IngestEvents and a fake queue."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid4

import orjson
import pytest

from eventpulse.domain.errors import StreamBackpressure, StreamUnavailable
from tests.unit.api_client import MAX_BATCH_EVENTS, MAX_BODY_BYTES, TestClient, serve
from tests.unit.fakes import FakeQueue

EVENTS = "/api/v1/events"
BATCH = "/api/v1/events/batch"
JSON = {"content-type": "application/json"}


@pytest.fixture
def queue() -> FakeQueue:
    return FakeQueue()


@pytest.fixture(params=[True, False], ids=["fast-path", "fastapi-routes"])
def client(queue: FakeQueue, request: pytest.FixtureRequest) -> Iterator[TestClient]:
    """Every ingestion test runs against both fronts: they must answer identically."""
    with serve(queue, fast_ingest=request.param) as client:
        yield client


def event(**fields: Any) -> dict[str, Any]:
    return {"event_type": "login", "source": "web", **fields}


def fields_of(body: dict[str, Any]) -> list[str]:
    return [error["field"] for error in body["errors"]]


def test_an_event_is_accepted_and_queued(client: TestClient, queue: FakeQueue) -> None:
    response = client.post(EVENTS, json=event(payload={"user": "ada"}))

    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "accepted"
    [queued] = queue.events
    assert queued["event_id"] == body["event_id"]
    assert (queued["event_type"], queued["source"]) == ("login", "web")
    assert queued["payload"] == {"user": "ada"}


def test_a_given_event_id_and_offset_timestamp_are_kept_in_utc(
    client: TestClient, queue: FakeQueue
) -> None:
    given = uuid4()

    response = client.post(
        EVENTS, json=event(event_id=str(given), timestamp="2024-05-01T14:00:00+02:00")
    )

    assert response.json()["event_id"] == str(given)
    assert queue.events[0]["timestamp"] == "2024-05-01T12:00:00Z"


def test_a_batch_is_accepted_and_queued_in_one_write(client: TestClient, queue: FakeQueue) -> None:
    response = client.post(BATCH, json=[event(payload={"n": n}) for n in range(3)])

    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 3
    assert body["rejected"] == []
    assert len(queue.appends) == 1
    assert [e["event_id"] for e in queue.events] == body["event_ids"]


# Each case: (path, request keywords, status, what the answer must name).
BAD_REQUESTS = [
    pytest.param(
        EVENTS, {"content": b'{"event_type": ', "headers": JSON}, 400, "malformed JSON", id="json"
    ),
    pytest.param(
        BATCH, {"content": b"[{]", "headers": JSON}, 400, "malformed JSON", id="batch-json"
    ),
    pytest.param(EVENTS, {"content": b"", "headers": JSON}, 400, "empty", id="empty-body"),
    pytest.param(
        EVENTS,
        {"content": b"{}", "headers": {"content-type": "text/plain"}},
        415,
        "text/plain",
        id="text-plain",
    ),
    pytest.param(
        BATCH,
        {"data": {"event_type": "login"}},
        415,
        "application/x-www-form-urlencoded",
        id="form-encoded",
    ),
    pytest.param(EVENTS, {"content": b"{}"}, 415, "got none", id="no-content-type"),
    pytest.param(BATCH, {"json": []}, 400, "batch is empty", id="empty-batch"),
    pytest.param(
        BATCH,
        {"json": [event()] * (MAX_BATCH_EVENTS + 1)},
        413,
        f"the limit is {MAX_BATCH_EVENTS}",
        id="batch-too-long",
    ),
]


@pytest.mark.parametrize(("path", "request_", "status", "named"), BAD_REQUESTS)
def test_a_bad_request_is_refused_saying_why(
    client: TestClient,
    queue: FakeQueue,
    path: str,
    request_: dict[str, Any],
    status: int,
    named: str,
) -> None:
    response = client.post(path, **request_)

    assert response.status_code == status
    assert named in response.json()["detail"]
    assert queue.appends == []


def padded_batch(size: int) -> bytes:
    """A valid JSON batch of exactly `size` bytes."""
    body = orjson.dumps([event()])
    return body[:-1] + b" " * (size - len(body)) + b"]"


@pytest.mark.parametrize(
    "chunked", [pytest.param(False, id="content-length"), pytest.param(True, id="chunked")]
)
def test_a_body_above_the_size_limit_is_refused_with_413(
    client: TestClient, queue: FakeQueue, chunked: bool
) -> None:
    body = padded_batch(MAX_BODY_BYTES + 1)
    content = iter([body[:1000], body[1000:]]) if chunked else body

    response = client.post(BATCH, content=content, headers=JSON)

    assert response.status_code == 413
    detail = response.json()["detail"]
    assert detail.startswith("request body")
    assert f"limit is {MAX_BODY_BYTES}" in detail or f"limit of {MAX_BODY_BYTES}" in detail
    assert queue.appends == []


@pytest.mark.parametrize(
    "chunked", [pytest.param(False, id="content-length"), pytest.param(True, id="chunked")]
)
def test_a_body_of_exactly_the_size_limit_is_accepted(
    client: TestClient, queue: FakeQueue, chunked: bool
) -> None:
    body = padded_batch(MAX_BODY_BYTES)
    content = iter([body[:1000], body[1000:]]) if chunked else body

    response = client.post(BATCH, content=content, headers=JSON)

    assert response.status_code == 202
    assert len(queue.events) == 1


def test_a_batch_that_is_not_an_array_is_refused_naming_the_body(client: TestClient) -> None:
    response = client.post(BATCH, json=event())

    assert response.status_code == 422
    assert fields_of(response.json()) == ["body"]


# Each case: (event document, the field the 422 must name).
INVALID_EVENTS = [
    pytest.param(event(event_type=5), "event_type", id="event_type-a-number"),
    pytest.param(event(event_type=None), "event_type", id="event_type-null"),
    pytest.param(event(event_type=""), "event_type", id="event_type-empty"),
    pytest.param(event(event_type="e" * 256), "event_type", id="event_type-256-chars"),
    pytest.param({"source": "web"}, "event_type", id="event_type-missing"),
    pytest.param(event(source=""), "source", id="source-empty"),
    pytest.param(event(source="s" * 256), "source", id="source-256-chars"),
    pytest.param({"event_type": "login"}, "source", id="source-missing"),
    pytest.param(event(timestamp="2024-05-01T12:00:00"), "timestamp", id="timestamp-no-offset"),
    pytest.param(event(timestamp="soon"), "timestamp", id="timestamp-not-a-time"),
    pytest.param(event(event_id="42"), "event_id", id="event_id-not-a-uuid"),
    pytest.param(event(colour="red"), "colour", id="unknown-field"),
    pytest.param(event(payload=[1, 2]), "payload", id="payload-array"),
    pytest.param(event(payload="{}"), "payload", id="payload-string"),
    pytest.param(event(payload={"note": "a\x00b"}), "payload", id="nul-in-payload"),
    pytest.param(event(source="w\x00b"), "source", id="nul-in-source"),
    pytest.param(event(event_type="\x00"), "event_type", id="nul-in-event_type"),
    pytest.param(
        event(payload={"blob": "x" * 2000}), "payload", id="payload-above-max-event-bytes"
    ),
    pytest.param(["not", "an", "object"], "body", id="not-an-object"),
]


@pytest.mark.parametrize(("document", "field"), INVALID_EVENTS)
def test_an_invalid_event_is_refused_with_422_naming_its_field(
    client: TestClient, queue: FakeQueue, document: Any, field: str
) -> None:
    response = client.post(EVENTS, json=document)

    assert response.status_code == 422
    assert fields_of(response.json()) == [field]
    assert queue.appends == []


def test_every_invalid_field_of_an_event_is_named(client: TestClient) -> None:
    response = client.post(EVENTS, json={"event_type": "", "payload": 3, "extra": 1})

    assert response.status_code == 422
    assert sorted(fields_of(response.json())) == ["event_type", "extra", "payload", "source"]


@pytest.mark.parametrize(
    "timestamp",
    [
        pytest.param("0001-01-01T00:00:00+01:00", id="before-year-1-in-utc"),
        pytest.param("9999-12-31T23:30:00-01:00", id="after-year-9999-in-utc"),
    ],
)
def test_a_timestamp_outside_the_utc_range_is_refused_naming_it(
    client: TestClient, timestamp: str
) -> None:
    response = client.post(EVENTS, json=event(timestamp=timestamp))

    assert response.status_code == 422
    assert fields_of(response.json()) == ["timestamp"]


def test_a_mixed_batch_accepts_the_valid_events_and_lists_the_rejected_ones(
    client: TestClient, queue: FakeQueue
) -> None:
    batch = [
        event(payload={"n": 0}),
        event(event_type=""),
        event(payload={"n": 2}),
        event(payload={"note": "\x00"}),
        7,
        event(timestamp="2024-05-01T12:00:00"),
    ]

    response = client.post(BATCH, json=batch)

    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 2
    assert [e["payload"] for e in queue.events] == [{"n": 0}, {"n": 2}]
    assert [e["event_id"] for e in queue.events] == body["event_ids"]
    rejected = {item["index"]: fields_of(item) for item in body["rejected"]}
    assert rejected == {1: ["event_type"], 3: ["payload"], 4: ["body"], 5: ["timestamp"]}
    assert [item["index"] for item in body["rejected"]] == [1, 3, 4, 5]


def test_a_batch_without_any_valid_event_is_refused_with_400_listing_each(
    client: TestClient, queue: FakeQueue
) -> None:
    response = client.post(BATCH, json=[event(source=""), event(payload={"k\x00": 1})])

    assert response.status_code == 400
    body = response.json()
    assert body["accepted"] == 0
    assert body["event_ids"] == []
    assert "no valid event" in body["detail"]
    assert [(item["index"], fields_of(item)) for item in body["rejected"]] == [
        (0, ["source"]),
        (1, ["payload"]),
    ]
    assert queue.appends == []


@pytest.mark.parametrize(
    ("error", "status", "retry_after"),
    [
        pytest.param(StreamUnavailable("redis is down", retry_after=3), 503, "3", id="unavailable"),
        pytest.param(StreamBackpressure("stream above 200000", retry_after=7), 429, "7", id="full"),
    ],
)
@pytest.mark.parametrize("path", [EVENTS, BATCH])
def test_a_queue_that_cannot_take_events_gets_a_retry_after_answer(
    path: str, error: Exception, status: int, retry_after: str
) -> None:
    document: Any = event() if path == EVENTS else [event(), event()]
    with serve(FakeQueue(error=error)) as client:
        response = client.post(path, json=document)

    assert response.status_code == status
    assert response.headers["retry-after"] == retry_after
    assert response.json()["detail"] == str(error)
    assert "event_id" not in response.json()


def test_accepted_event_ids_are_uuids(client: TestClient) -> None:
    response = client.post(BATCH, json=[event(), event()])

    assert all(UUID(event_id).version == 4 for event_id in response.json()["event_ids"])


def test_a_payload_nested_too_deeply_to_encode_is_refused_and_its_neighbours_kept(
    client: TestClient, queue: FakeQueue
) -> None:
    deep: dict[str, Any] = {}
    cursor = deep
    for _ in range(400):  # parses (orjson reads 1024 levels) but cannot be re-encoded
        cursor["a"] = {}
        cursor = cursor["a"]
    single = client.post("/api/v1/events", json=event(payload=deep))
    assert single.status_code == 422
    assert fields_of(single.json()) == ["payload"]

    batch = client.post("/api/v1/events/batch", json=[event(), event(payload=deep), event()])
    assert batch.status_code == 202
    body = batch.json()
    assert body["accepted"] == 2
    assert [(r["index"], r["errors"][0]["field"]) for r in body["rejected"]] == [(1, "payload")]


@pytest.mark.parametrize("timestamp", [1700000000, 1.7e9, True], ids=["int", "float", "bool"])
def test_a_timestamp_that_is_not_an_rfc3339_string_is_refused_naming_it(
    client: TestClient, timestamp: Any
) -> None:
    response = client.post("/api/v1/events", json=event(timestamp=timestamp))
    assert response.status_code == 422
    assert fields_of(response.json()) == ["timestamp"]
