"""The event: what producers send and what the store keeps."""

from __future__ import annotations

from dataclasses import dataclass
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
