"""The ports the use cases need. Infrastructure adapters satisfy them structurally."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from eventpulse.domain.engine import Anomaly
from eventpulse.domain.errors import EventPulseError
from eventpulse.domain.events import Event
from eventpulse.domain.rules import Severity


class EventQueue(Protocol):
    """The durable buffer the API writes to (Redis Stream `{ns}:events`).

    `append` returns only once the buffer confirmed the write of *all* given events, or raises
    `StreamUnavailable` / `StreamBackpressure` having accepted none of them.
    """

    async def append(self, encoded_events: Sequence[bytes]) -> None: ...


@dataclass(frozen=True, slots=True)
class StreamEntry:
    """One entry of the ingest stream as a consumer sees it."""

    entry_id: str
    data: bytes | None
    deliveries: int


class IngestStream(Protocol):
    """The worker's side of the ingest stream (one consumer in the `persisters` group)."""

    def read_own_pending(self, count: int) -> list[StreamEntry]: ...

    def read_new(self, count: int, block_ms: int) -> list[StreamEntry]: ...

    def claim_abandoned(self, count: int) -> list[StreamEntry]: ...

    def ack(self, entry_ids: Sequence[str]) -> None: ...

    def touch(self, entry_ids: Sequence[str]) -> None:
        """Mark held entries as still being worked on (reset their idle time)."""
        ...

    def dead_letter(
        self, entry_id: str, data: bytes | None, error: str, deliveries: int
    ) -> None: ...

    def trim_acknowledged(self) -> int: ...


class EventStore(Protocol):
    """The source of truth (PostgreSQL `events`).

    `insert_new` is idempotent on `event_id` and returns the ids it newly inserted. It raises
    `StoreUnavailable` for transient trouble (nothing committed) and `RejectedEvents` when the
    data itself cannot be stored.
    """

    def insert_new(self, events: Sequence[Event]) -> set[UUID]: ...


class EventReader(Protocol):
    """Read access to stored events (the API's query side)."""

    async def get(self, event_id: UUID) -> Event | None: ...

    async def list(self, query: EventQuery) -> list[Event]:
        """At most `query.limit` events matching `query`, in (ts, event_id) order."""
        ...


class RejectedEvents(EventPulseError):
    """The store refused the data of a batch (not a transient failure); the message says why."""


@dataclass(frozen=True, slots=True)
class EventQuery:
    """Which stored events to list: `since <= ts < until` (UTC), optionally one `event_type`
    and/or `source`, positioned strictly after `after` = (ts, event_id) of the last event of the
    previous page. Rows are never updated, so a position means the same at any later time."""

    limit: int
    event_type: str | None = None
    source: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after: tuple[datetime, UUID] | None = None


@dataclass(frozen=True, slots=True)
class AnomalyQuery:
    """Which stored anomalies to list, on anomaly `ts`, like `EventQuery`: after `after` =
    (ts, anomaly_id) in (ts, anomaly_id) order."""

    limit: int
    rule_id: str | None = None
    severity: Severity | None = None
    since: datetime | None = None
    until: datetime | None = None
    after: tuple[datetime, str] | None = None


@dataclass(frozen=True, slots=True)
class StoredAnomaly:
    """An anomaly as stored: the engine's value and when it was stored."""

    anomaly: Anomaly
    created_at: datetime


class AnomalyReader(Protocol):
    """Read access to stored anomalies (PostgreSQL `anomalies`; the API's query side)."""

    async def get(self, anomaly_id: str) -> StoredAnomaly | None: ...

    async def list(self, query: AnomalyQuery) -> list[StoredAnomaly]:
        """At most `query.limit` anomalies matching `query`, in (ts, anomaly_id) order."""
        ...
