from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import uuid4

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventpulse.application.event_codec import (
    UndecodableEvent,
    decode_entry,
    encode_event,
    event_record,
    join_events,
    nul_field,
)
from tests.unit.fakes import stored_event

PLUS_TWO = timezone(timedelta(hours=2))


def wire_item(**overrides: Any) -> dict[str, Any]:
    """One event of an entry as JSON would hold it (strings, not UUID/datetime objects)."""
    item: dict[str, Any] = {
        "event_id": str(uuid4()),
        "event_type": "login",
        "source": "web",
        "timestamp": "2024-05-01T12:00:00Z",
        "payload": {"user": "ada"},
        "received_at": "2024-05-01T12:00:01Z",
    }
    item.update(overrides)
    return item


def without(field: str) -> dict[str, Any]:
    item = wire_item()
    del item[field]
    return item


def test_an_event_survives_encoding_and_decoding_unchanged() -> None:
    event = stored_event(payload={"user": "ada", "tries": 3, "tags": ["a", "b"], "ok": None})

    events, bad = decode_entry(join_events([encode_event(event_record(event))]))

    assert events == [event]
    assert bad == []


def test_utc_times_are_encoded_with_a_z_suffix() -> None:
    event = stored_event(ts=datetime(2024, 5, 1, 12, 0, tzinfo=UTC))

    document = orjson.loads(encode_event(event_record(event)))

    assert document["timestamp"] == "2024-05-01T12:00:00Z"
    assert document["received_at"].endswith("Z")
    assert document["event_id"] == str(event.event_id)


def test_decoded_times_are_normalised_to_utc() -> None:
    item = wire_item(timestamp="2024-05-01T14:00:00+02:00", received_at="2024-05-01T09:30:00-03:00")

    [event], _ = decode_entry(orjson.dumps([item]))

    assert event.ts == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert event.ts.utcoffset() == timedelta(0)
    assert event.received_at == datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    assert event.received_at.utcoffset() == timedelta(0)


@given(
    ts=st.datetimes(
        min_value=datetime(1970, 1, 2),
        max_value=datetime(2200, 1, 1),
        timezones=st.sampled_from([UTC, PLUS_TWO, timezone(timedelta(hours=-9, minutes=-30))]),
    ),
    payload=st.dictionaries(
        st.text(max_size=5), st.integers(-(2**63), 2**63 - 1) | st.text(max_size=5), max_size=3
    ),
)
def test_any_aware_time_decodes_to_the_same_instant_in_utc(
    ts: datetime, payload: dict[str, Any]
) -> None:
    record = event_record(stored_event(ts=ts, payload=payload))

    [event], bad = decode_entry(join_events([encode_event(record)]))

    assert bad == []
    assert event.ts == ts
    assert event.ts.tzinfo is UTC
    assert event.payload == payload


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        pytest.param(None, "entry has no 'e' field", id="no-data"),
        pytest.param(b"[{", "entry is not valid JSON", id="invalid-json"),
        pytest.param(b'{"event_type": "login"}', "entry is not a JSON array", id="not-an-array"),
    ],
)
def test_an_entry_that_is_not_an_array_of_events_is_one_undecodable_item(
    data: bytes | None, reason: str
) -> None:
    events, bad = decode_entry(data)

    assert events == []
    assert len(bad) == 1
    assert bad[0].raw == (data or b"")
    assert reason in bad[0].error


BAD_ITEMS = [
    pytest.param(5, "not a JSON object", id="item-not-an-object"),
    pytest.param(["login"], "not a JSON object", id="item-is-an-array"),
    *(
        pytest.param(without(name), repr(name), id=f"missing-{name}")
        for name in ("event_id", "event_type", "source", "timestamp", "payload", "received_at")
    ),
    pytest.param(wire_item(event_type=""), "event_type must be", id="empty-event_type"),
    pytest.param(wire_item(event_type="x" * 256), "event_type must be", id="long-event_type"),
    pytest.param(wire_item(event_type=7), "event_type must be", id="event_type-not-a-string"),
    pytest.param(wire_item(source=""), "source must be", id="empty-source"),
    pytest.param(wire_item(source="s" * 256), "source must be", id="long-source"),
    pytest.param(
        wire_item(timestamp="2024-05-01T12:00:00"),
        "timestamp without offset",
        id="timestamp-without-offset",
    ),
    pytest.param(
        wire_item(received_at="2024-05-01T12:00:00"),
        "timestamp without offset",
        id="received_at-without-offset",
    ),
    pytest.param(wire_item(timestamp="yesterday"), "yesterday", id="timestamp-not-a-date"),
    pytest.param(wire_item(payload=[1, 2]), "payload is not a JSON object", id="payload-array"),
    pytest.param(wire_item(payload="{}"), "payload is not a JSON object", id="payload-string"),
    pytest.param(wire_item(event_id="not-a-uuid"), "UUID", id="event_id-not-a-uuid"),
    pytest.param(
        wire_item(event_id=12345),
        "event_id",
        id="event_id-a-number",
    ),
    pytest.param(
        wire_item(timestamp="0001-01-01T00:00:00+01:00"),
        "timestamp",
        id="timestamp-before-year-1-in-utc",
    ),
]


@pytest.mark.parametrize(("item", "reason"), BAD_ITEMS)
def test_a_bad_item_is_undecodable_with_its_reason_while_its_neighbours_decode(
    item: Any, reason: str
) -> None:
    first, last = wire_item(), wire_item()

    events, bad = decode_entry(orjson.dumps([first, item, last]))

    assert [str(e.event_id) for e in events] == [first["event_id"], last["event_id"]]
    assert bad == [UndecodableEvent(orjson.dumps(item), bad[0].error)]
    assert reason in bad[0].error


def test_names_of_exactly_255_characters_decode() -> None:
    item = wire_item(event_type="t" * 255, source="s" * 255)

    events, bad = decode_entry(orjson.dumps([item]))

    assert bad == []
    assert events[0].event_type == "t" * 255
    assert events[0].source == "s" * 255


def test_an_empty_array_is_an_entry_without_events_or_problems() -> None:
    assert decode_entry(b"[]") == ([], [])


@pytest.mark.parametrize(
    ("record", "field"),
    [
        pytest.param({"payload": {"note": "a\x00b"}}, "payload", id="in-a-payload-value"),
        pytest.param({"payload": {"a\x00": 1}}, "payload", id="in-a-payload-key"),
        pytest.param({"payload": {"l": [{"x": "\x00"}]}}, "payload", id="deep-in-a-payload"),
        pytest.param({"event_type": "\x00"}, "event_type", id="in-a-name"),
        pytest.param({"source": "s\x00"}, "source", id="in-a-source"),
    ],
)
def test_a_nul_character_makes_an_event_unstorable_and_names_its_field(
    record: dict[str, Any], field: str
) -> None:
    assert nul_field(encode_event(record), record) == field


@pytest.mark.parametrize(
    "record",
    [
        pytest.param({"payload": {"note": "plain text, émoji 🎉, tab\t"}}, id="ordinary-text"),
        pytest.param({"payload": {"n": 0, "z": "0000"}}, id="zeros"),
        pytest.param(
            {"payload": {"path": "C:\\u0000dir"}},
            id="a-backslash-followed-by-u0000",
        ),
    ],
)
def test_text_without_nul_is_storable(record: dict[str, Any]) -> None:
    assert nul_field(encode_event(record), record) is None


def test_each_decoded_event_knows_its_stream_position() -> None:
    items = [wire_item(), wire_item(), wire_item()]

    events, _ = decode_entry(orjson.dumps(items), "1700000000123-7")

    assert [e.arrival for e in events] == [(1700000000123, 7, i) for i in range(3)]
