"""Stats use case (`GET /api/v1/stats`): what the pipeline did over a recent window, and
where it stands now.

Over the window `[now - window, now)`: events stored by `event_type` or `source` (by when the
API accepted them, `received_at`) and the ingest rate, anomalies by rule and severity, and
notification delivery attempts by channel and status (both by when they were stored). Now:
the Redis streams (length, dead letters, each consumer group's pending entries and lag), the
live workers (by their heartbeat reports) and how many stored events the live evaluation has
not reached yet. PostgreSQL and Redis are asked at the same time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Literal, Protocol, TypeAlias

EventField: TypeAlias = Literal["event_type", "source"]

LAG_CAP: Final = 100_000
"""The evaluation lag is counted up to this many events (a count beyond says little more and
would read more of the index)."""


@dataclass(frozen=True, slots=True)
class StoredCounts:
    """PostgreSQL's side of the stats."""

    events: dict[str, int]
    """Events stored in the window, by the chosen field."""
    anomalies: dict[tuple[str, str], int]
    """Anomalies stored in the window, by (rule id, severity)."""
    deliveries: dict[tuple[str, str], int]
    """Delivery attempts recorded in the window, by (channel, status)."""
    evaluation_cursor: tuple[int, int, int]
    evaluation_lag: int
    """Stored events after the evaluation cursor, at most `LAG_CAP`."""


@dataclass(frozen=True, slots=True)
class GroupState:
    consumers: int
    pending: int
    """Entries delivered to a consumer and not acknowledged yet."""
    lag: int | None
    """Entries not delivered yet (None: the server cannot tell; Redis < 7 counts none)."""
    oldest_age_s: float
    """How long the oldest entry not acknowledged by the group has waited (0: none waits)."""


@dataclass(frozen=True, slots=True)
class StreamState:
    length: int
    dead_letters: int
    groups: dict[str, GroupState]


@dataclass(frozen=True, slots=True)
class PipelineState:
    """Redis's side of the stats."""

    events: StreamState
    anomalies: StreamState
    workers: dict[str, int]
    """Live workers (a heartbeat report exists) and the rule-set revision each runs."""
    ingest_lag_s: float
    """How long the oldest accepted event not yet stored has waited (0: none waits)."""


class StatsStore(Protocol):
    async def counts(
        self, by: EventField, since: datetime, until: datetime, lag_cap: int
    ) -> StoredCounts: ...


class PipelineSource(Protocol):
    async def state(self) -> PipelineState: ...


@dataclass(frozen=True, slots=True)
class Stats:
    window_s: int
    since: datetime
    until: datetime
    by: EventField
    stored: StoredCounts
    pipeline: PipelineState

    @property
    def events_total(self) -> int:
        return sum(self.stored.events.values())

    @property
    def ingest_rate(self) -> float:
        """Events stored per second over the window (by `received_at`)."""
        return self.events_total / self.window_s

    @property
    def evaluation_lag_capped(self) -> bool:
        return self.stored.evaluation_lag >= LAG_CAP


class ReadStats:
    def __init__(
        self,
        store: StatsStore,
        pipeline: PipelineSource,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._pipeline = pipeline
        self._clock = clock

    async def read(self, window_s: int, by: EventField) -> Stats:
        until = self._clock()
        since = until - timedelta(seconds=window_s)
        stored, pipeline = await asyncio.gather(
            self._store.counts(by, since, until, LAG_CAP),
            self._pipeline.state(),
            return_exceptions=True,  # both finish: no read is left running unobserved
        )
        if isinstance(stored, BaseException):
            raise stored
        if isinstance(pipeline, BaseException):
            raise pipeline
        return Stats(window_s, since, until, by, stored, pipeline)
