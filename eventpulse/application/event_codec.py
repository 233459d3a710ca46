"""The wire format of the ingest stream: how accepted events travel from the API to the worker.

An entry's `e` field holds a JSON array of events (the API groups the events of concurrent
requests into one entry, at most `max_entry_events` each: one XADD per event costs more than
the whole HTTP request; see benchmarks/RESULTS.md). Each event is a JSON object with
`event_id`, `event_type`, `source`, `timestamp` and `received_at` (RFC 3339, UTC) and `payload`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson

from eventpulse.domain.events import MAX_NAME_LENGTH, Event

ENTRY_FIELD = b"e"
EncodeError = orjson.JSONEncodeError
_NUL = b"\\u0000"


def encode_event(record: dict[str, Any]) -> bytes:
    """Serialise one validated event record (UUID and aware datetimes allowed)."""
    return orjson.dumps(record, option=orjson.OPT_UTC_Z)


def event_record(event: Event) -> dict[str, Any]:
    """The wire record of a decoded event (the inverse of `decode_entry` for one item)."""
    return {
        "event_id": event.event_id,
        "event_type": event.event_type,
        "source": event.source,
        "timestamp": event.ts,
        "payload": event.payload,
        "received_at": event.received_at,
    }


def join_events(encoded: list[bytes]) -> bytes:
    """One entry body from already-encoded events."""
    return b"[" + b",".join(encoded) + b"]"


def nul_field(encoded: bytes, record: dict[str, Any]) -> str | None:
    """The field of `record` holding a NUL character, which PostgreSQL text cannot store.

    `encoded` is the record as `encode_event` wrote it: orjson escapes NUL as `\\u0000`, so
    the byte search rules out almost every event at once; only a hit (which may also be an
    escaped backslash followed by `u0000`) walks the record.
    """
    if _NUL not in encoded:
        return None
    for name in ("event_type", "source", "payload"):
        if _holds_nul(record.get(name)):
            return name
    return None


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False


@dataclass(frozen=True, slots=True)
class UndecodableEvent:
    """An item of an entry that is not a valid event; it goes to the dead-letter stream."""

    raw: bytes
    error: str


def decode_entry(
    data: bytes | None, entry_id: str = "0-0"
) -> tuple[list[Event], list[UndecodableEvent]]:
    """Events of one entry, and the items that are not valid events (each with its reason).

    Each event's `arrival` is (entry ms, entry seq, its index in the entry). An entry that is
    not a JSON array at all yields a single undecodable item: the whole entry.
    """
    if data is None:
        return [], [UndecodableEvent(b"", f"entry has no '{ENTRY_FIELD.decode()}' field")]
    try:
        items = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        return [], [UndecodableEvent(data, f"entry is not valid JSON: {exc}")]
    if not isinstance(items, list):
        return [], [UndecodableEvent(data, "entry is not a JSON array of events")]
    events: list[Event] = []
    bad: list[UndecodableEvent] = []
    received: dict[str, datetime] = {}  # the events of one request share their receive time
    millis, _, sequence = entry_id.partition("-")
    entry = (int(millis), int(sequence or 0))
    for index, item in enumerate(items):
        try:
            events.append(_event_from_item(item, received, (*entry, index)))
        except (KeyError, TypeError, ValueError) as exc:
            bad.append(UndecodableEvent(orjson.dumps(item), f"invalid event: {exc!r}"))
    return events, bad


def _event_from_item(
    item: Any, received: dict[str, datetime], arrival: tuple[int, int, int]
) -> Event:
    if not isinstance(item, dict):
        raise TypeError("event is not a JSON object")
    event_type, source, payload = item["event_type"], item["source"], item["payload"]
    if not (isinstance(event_type, str) and 0 < len(event_type) <= MAX_NAME_LENGTH):
        raise ValueError("event_type must be a string of 1..255 characters")
    if not (isinstance(source, str) and 0 < len(source) <= MAX_NAME_LENGTH):
        raise ValueError("source must be a string of 1..255 characters")
    if not isinstance(payload, dict):
        raise TypeError("payload is not a JSON object")
    return Event(
        event_id=UUID(_text(item["event_id"], "event_id")),
        event_type=event_type,
        source=source,
        ts=_utc(item["timestamp"], "timestamp"),
        payload=payload,
        received_at=_received_at(item["received_at"], received),
        arrival=arrival,
    )


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} is not a string")
    return value


def _received_at(text: Any, seen: dict[str, datetime]) -> datetime:
    if isinstance(text, str) and text in seen:
        return seen[text]
    parsed = seen[text] = _utc(text, "received_at")
    return parsed


def _utc(text: Any, name: str) -> datetime:
    parsed = datetime.fromisoformat(_text(text, name))
    if parsed.tzinfo is UTC:  # what the API writes: no conversion needed
        return parsed
    if parsed.tzinfo is None:
        raise ValueError(f"{name}: timestamp without offset: {text!r}")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{name}: timestamp out of range in UTC: {text!r}") from None
