"""Paged reads of stored events and anomalies: checking filters, keyset cursors, pages.

A list is in (ts, id) order: `ts` ascending, ties broken by `event_id` / `anomaly_id`. A page
holds at most `limit` rows and `next_cursor`, which encodes (ts, id) of its last row, or None
when no row follows. The next page is the matching rows strictly after that position, so
paging through a range returns every row that existed when the first page was read exactly
once, however many rows are inserted meanwhile (rows are never updated; a new row shows up
only if it sorts after the position reached).

The cursor is opaque to clients: unpadded base64url of `<kind>:<µs since the Unix epoch>:<id>`,
where `kind` (`e` events, `a` anomalies) makes one list refuse the other's cursors. It carries
no filter: a client that changes the filters between pages continues from the same position.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Generic, TypeVar
from uuid import UUID

from eventpulse.application.ports import (
    AnomalyQuery,
    AnomalyReader,
    EventQuery,
    EventReader,
    StoredAnomaly,
)
from eventpulse.domain.errors import FieldError, InvalidInput, NotFound
from eventpulse.domain.events import MAX_NAME_LENGTH, Event
from eventpulse.domain.rules import Severity

DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 1000
MAX_CURSOR_LENGTH: Final = 1000
_EVENTS, _ANOMALIES = "e", "a"
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)
_BAD_CURSOR: Final = "expected the next_cursor of a previous page of this list"

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


async def list_events(
    reader: EventReader,
    *,
    event_type: str | None = None,
    source: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[Event]:
    """A page of stored events with `since <= ts < until` (either bound optional).
    `InvalidInput` names each bad argument (`limit`, `cursor`, `since`, ...)."""
    checks = _Checks(limit, since, until)
    checks.names(event_type=event_type, source=source)
    position = checks.position(cursor, _EVENTS)
    after = None
    if position is not None:
        try:
            after = (position[0], UUID(position[1]))
        except ValueError:
            checks.errors.append(FieldError("cursor", _BAD_CURSOR))
    checks.raise_errors()
    query = EventQuery(limit + 1, event_type, source, checks.since, checks.until, after)
    rows = await reader.list(query)
    return _page(rows, limit, lambda e: encode_cursor(_EVENTS, e.ts, str(e.event_id)))


async def list_anomalies(
    reader: AnomalyReader,
    *,
    rule_id: str | None = None,
    severity: Severity | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[StoredAnomaly]:
    """A page of stored anomalies with `since <= ts < until` on anomaly `ts`, like
    `list_events`."""
    checks = _Checks(limit, since, until)
    checks.names(rule_id=rule_id)
    if severity is not None and severity not in tuple(Severity):
        checks.errors.append(FieldError("severity", "expected one of info, warning, critical"))
    after = checks.position(cursor, _ANOMALIES)
    checks.raise_errors()
    level = None if severity is None else Severity(severity)
    query = AnomalyQuery(limit + 1, rule_id, level, checks.since, checks.until, after)
    rows = await reader.list(query)
    return _page(
        rows, limit, lambda s: encode_cursor(_ANOMALIES, s.anomaly.ts, s.anomaly.anomaly_id)
    )


async def find_anomaly(reader: AnomalyReader, anomaly_id: str) -> StoredAnomaly:
    """The stored anomaly with this id; `NotFound` otherwise (an id no anomaly can have,
    such as one holding NUL, which PostgreSQL text cannot store, is not even looked up)."""
    found = await reader.get(anomaly_id) if _storable(anomaly_id) else None
    if found is None:
        raise NotFound(f"no anomaly {anomaly_id!r}")
    return found


def encode_cursor(kind: str, ts: datetime, key: str) -> str:
    micros = (ts - _EPOCH) // _MICROSECOND
    text = f"{kind}:{micros}:{key}".encode()
    return base64.urlsafe_b64encode(text).decode().rstrip("=")


def decode_cursor(cursor: str, kind: str) -> tuple[datetime, str] | None:
    """(ts, id) of a cursor made by `encode_cursor(kind, ...)`; None for anything else."""
    if not cursor.isascii() or len(cursor) > MAX_CURSOR_LENGTH:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        tag, micros, key = text.split(":", 2)
        ts = _EPOCH + int(micros) * _MICROSECOND
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError):
        return None
    if tag != kind or not micros.lstrip("-").isdigit() or not key or not _storable(key):
        return None
    return ts, key


class _Checks:
    """The arguments' errors, gathered so that one answer names every bad field."""

    def __init__(self, limit: int, since: datetime | None, until: datetime | None) -> None:
        self.errors: list[FieldError] = []
        if not 1 <= limit <= MAX_LIMIT:
            self.errors.append(FieldError("limit", f"must be between 1 and {MAX_LIMIT}"))
        self.since = self._utc("since", since)
        self.until = self._utc("until", until)
        if self.since is not None and self.until is not None and self.since >= self.until:
            self.errors.append(FieldError("until", "must be after since"))

    def _utc(self, name: str, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            self.errors.append(FieldError(name, "must be a timestamp with a UTC offset"))
            return None
        try:
            return value.astimezone(UTC)
        except OverflowError:
            self.errors.append(FieldError(name, "out of range once converted to UTC"))
            return None

    def names(self, **values: str | None) -> None:
        for name, value in values.items():
            if value is not None and not (0 < len(value) <= MAX_NAME_LENGTH):
                self.errors.append(FieldError(name, f"must be 1..{MAX_NAME_LENGTH} characters"))
            elif value is not None and not _storable(value):
                self.errors.append(FieldError(name, "must not contain a NUL character"))

    def position(self, cursor: str | None, kind: str) -> tuple[datetime, str] | None:
        if cursor is None:
            return None
        position = decode_cursor(cursor, kind)
        if position is None:
            self.errors.append(FieldError("cursor", _BAD_CURSOR))
        return position

    def raise_errors(self) -> None:
        if self.errors:
            raise InvalidInput(self.errors, "invalid query")


def _storable(text: str) -> bool:
    return "\x00" not in text


def _page(rows: list[T], limit: int, cursor_of: Callable[[T], str]) -> Page[T]:
    # The reader was asked for one row more than the page holds: it tells whether one follows.
    items = rows[:limit]
    more = len(rows) > limit
    return Page(items, cursor_of(items[-1]) if more else None)
