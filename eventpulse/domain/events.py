"""The event: what producers send and what the store keeps."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

MAX_NAME_LENGTH = 255
"""Upper bound for `event_type` and `source` (both must also be non-empty)."""


@dataclass(frozen=True, slots=True)
class Event:
    """One stored event. `ts` is the event time (UTC), `received_at` when the API accepted it,
    `arrival` its position in the ingest stream: (entry ms, entry seq, index in the entry), one
    total order of everything ingested (what the rule engine consumes)."""

    event_id: UUID
    event_type: str
    source: str
    ts: datetime
    payload: dict[str, Any]
    received_at: datetime
    arrival: tuple[int, int, int] = (0, 0, 0)
    ts_epoch: float | None = field(default=None, repr=False, compare=False)
    """`ts.timestamp()`, when the reader computed it once for every rule that reads the event
    (the engine's hot path); None: the engine computes it. Always equal to `ts.timestamp()`."""
    received_epoch: float | None = field(default=None, repr=False, compare=False)
    """`received_at.timestamp()`, likewise."""

    @classmethod
    def with_epochs(
        cls,
        event_id: UUID,
        event_type: str,
        source: str,
        ts: datetime,
        payload: dict[str, Any],
        received_at: datetime,
        arrival: tuple[int, int, int] = (0, 0, 0),
    ) -> Event:
        """An event whose epoch seconds are computed now, once for every rule that reads it."""
        return cls(
            event_id, event_type, source, ts, payload, received_at, arrival,
            ts.timestamp(), received_at.timestamp(),
        )  # fmt: skip
