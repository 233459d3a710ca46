"""Hand-written fakes of the application ports, and builders of wire records and stream entries.

The stream and the store write what they are asked to do into one shared `journal`, so tests can
assert the order of effects (insert before ack, ack before evaluation) and not only the end state.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import orjson

from eventpulse.application.event_codec import encode_event, join_events
from eventpulse.application.ports import EventQuery, RejectedEvents, StreamEntry
from eventpulse.domain.errors import StoreUnavailable
from eventpulse.domain.events import Event
from tests.unit.query_fakes import matching_events

Journal = list[tuple[Any, ...]]

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def wire_record(**overrides: Any) -> dict[str, Any]:
    """One event as the API writes it to the stream (a fresh id unless given)."""
    record: dict[str, Any] = {
        "event_id": uuid4(),
        "event_type": "login",
        "source": "web",
        "timestamp": T0,
        "payload": {"user": "ada"},
        "received_at": T0,
    }
    record.update(overrides)
    return record


def entry(entry_id: str, *records: dict[str, Any], deliveries: int = 1) -> StreamEntry:
    """A stream entry holding `records`, encoded as the API encodes them."""
    data = join_events([encode_event(r) for r in records])
    return StreamEntry(entry_id, data, deliveries)


def as_event(record: dict[str, Any]) -> Event:
    """The stored event of a wire record."""
    return Event(
        event_id=record["event_id"],
        event_type=record["event_type"],
        source=record["source"],
        ts=record["timestamp"],
        payload=record["payload"],
        received_at=record["received_at"],
    )


def ids_of(records: Sequence[dict[str, Any]]) -> list[UUID]:
    return [r["event_id"] for r in records]


class FakeQueue:
    """The API's EventQueue: remembers each confirmed append, or raises the error it is given."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.appends: list[list[bytes]] = []

    async def append(self, encoded_events: Sequence[bytes]) -> None:
        if self.error is not None:
            raise self.error
        self.appends.append(list(encoded_events))

    @property
    def events(self) -> list[dict[str, Any]]:
        return [orjson.loads(data) for call in self.appends for data in call]


class FakeReader:
    """The API's EventReader over a dict of stored events."""

    def __init__(self, *events: Event) -> None:
        self.events = {e.event_id: e for e in events}

    async def get(self, event_id: UUID) -> Event | None:
        return self.events.get(event_id)

    async def list(self, query: EventQuery) -> list[Event]:
        return matching_events(self.events.values(), query)


@dataclass(frozen=True)
class DeadLetter:
    entry_id: str
    data: bytes | None
    error: str
    deliveries: int

    @property
    def event(self) -> dict[str, Any]:
        assert self.data is not None
        document: dict[str, Any] = orjson.loads(self.data)
        return document


@dataclass
class FakeStream:
    """One consumer of the ingest stream, with its own pending list (PEL).

    `new` and `abandoned` are scripted batches that `read_new` / `claim_abandoned` hand out in
    order; what they hand out stays pending until acknowledged, like XREADGROUP and XAUTOCLAIM.
    When `new` runs out, `read_new` sets `stop` (as a signal would) and returns nothing; with
    `stop_after_reads`, its N-th call also sets `stop`, after handing out its batch.
    `failures` maps a method name to errors raised by its next calls, one per call.
    """

    journal: Journal
    stop: threading.Event
    new: list[list[StreamEntry]] = field(default_factory=list)
    pending: dict[str, StreamEntry] = field(default_factory=dict)
    abandoned: list[list[StreamEntry]] = field(default_factory=list)
    failures: dict[str, list[Exception]] = field(default_factory=dict)
    acked: list[str] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    touched: list[list[str]] = field(default_factory=list)
    stop_after_reads: int | None = None
    reads: int = 0

    def _call(self, name: str, *args: Any) -> None:
        self.journal.append((name, *args))
        errors = self.failures.get(name)
        if errors:
            raise errors.pop(0)

    def _deliver(self, entries: list[StreamEntry]) -> list[StreamEntry]:
        for e in entries:
            self.pending[e.entry_id] = e
        return entries

    def read_own_pending(self, count: int) -> list[StreamEntry]:
        self._call("read_own_pending")
        # XCLAIM of one's own entries counts as one more delivery.
        again = [replace(e, deliveries=e.deliveries + 1) for e in list(self.pending.values())]
        return self._deliver(again[:count])

    def read_new(self, count: int, block_ms: int) -> list[StreamEntry]:
        self._call("read_new")
        self.reads += 1
        if self.reads == self.stop_after_reads or not self.new:
            self.stop.set()
        return self._deliver(self.new.pop(0)[:count]) if self.new else []

    def claim_abandoned(self, count: int) -> list[StreamEntry]:
        self._call("claim_abandoned")
        if not self.abandoned:
            return []
        claimed = [replace(e, deliveries=e.deliveries + 1) for e in self.abandoned.pop(0)]
        return self._deliver(claimed[:count])

    def ack(self, entry_ids: Sequence[str]) -> None:
        self._call("ack", list(entry_ids))
        for entry_id in entry_ids:
            self.pending.pop(entry_id, None)
        self.acked.extend(entry_ids)

    def touch(self, entry_ids: Sequence[str]) -> None:
        # Not journaled: it happens between insert attempts during a store outage.
        errors = self.failures.get("touch")
        if errors:
            raise errors.pop(0)
        self.touched.append(list(entry_ids))

    def dead_letter(self, entry_id: str, data: bytes | None, error: str, deliveries: int) -> None:
        self._call("dead_letter", entry_id)
        self.dead.append(DeadLetter(entry_id, data, error, deliveries))

    def trim_acknowledged(self) -> int:
        self._call("trim")
        return 0


class FakeStore:
    """The EventStore: idempotent on event_id, with scripted outages and refused events.

    The calls numbered in `down_on` (1-based) raise StoreUnavailable and call `on_outage`;
    a call holding any id in `refused` raises RejectedEvents and stores nothing.
    """

    def __init__(
        self,
        journal: Journal,
        *,
        down_on: Collection[int] = (),
        refused: Sequence[UUID] = (),
        stored: Sequence[Event] = (),
        on_outage: Callable[[], None] | None = None,
    ) -> None:
        self.journal = journal
        self.down_on = down_on
        self.calls = 0
        self.refused = set(refused)
        self.rows: dict[UUID, Event] = {e.event_id: e for e in stored}
        self.on_outage = on_outage

    def insert_new(self, events: Sequence[Event]) -> set[UUID]:
        self.journal.append(("insert", [e.event_id for e in events]))
        self.calls += 1
        if self.calls in self.down_on:
            if self.on_outage is not None:
                self.on_outage()
            raise StoreUnavailable("connection refused")
        bad = [e.event_id for e in events if e.event_id in self.refused]
        if bad:
            raise RejectedEvents(f"invalid input for event {bad[0]}")
        new = {e.event_id for e in events} - self.rows.keys()
        for e in events:
            self.rows.setdefault(e.event_id, e)
        return new


class HookRecorder:
    """The evaluation hook: records each call's event ids, in the journal too."""

    def __init__(self, journal: Journal, error: Exception | None = None) -> None:
        self.journal = journal
        self.error = error
        self.calls: list[list[UUID]] = []

    def __call__(self, events: Sequence[Event]) -> None:
        ids = [e.event_id for e in events]
        self.journal.append(("hook", ids))
        self.calls.append(ids)
        if self.error is not None:
            raise self.error


def stored_event(**overrides: Any) -> Event:
    values: dict[str, Any] = {
        "event_id": uuid4(),
        "event_type": "login",
        "source": "web",
        "ts": T0,
        "payload": {"user": "ada"},
        "received_at": T0,
    }
    values.update(overrides)
    return Event(**values)
