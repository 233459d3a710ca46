"""On-time events that are not final yet, and their JSON form for checkpoints.

An event passes from pending to final once the watermark W exceeds its ts (ts < W); final
events leave in (ts, event_id) order, the one order every arrival order agrees on. An event id
that is already pending is a duplicate and is ignored; a duplicate of a final event is late
(its ts < W), so a re-delivered event is never counted twice.
"""

from __future__ import annotations

from bisect import bisect_left
from datetime import datetime
from typing import Any
from uuid import UUID

from eventpulse.domain.engine.machines import FinalEvent
from eventpulse.domain.events import Event


class Pending:
    def __init__(self) -> None:
        self.items: list[FinalEvent] = []
        self.ids: set[int] = set()

    def release(self, until: float) -> list[FinalEvent]:
        """The pending events with ts < until, in (ts, event_id) order."""
        items = self.items
        if not items:
            return []
        items.sort()  # (ts, id) pairs are unique, so the Event itself is never compared
        cut = bisect_left(items, (until,))
        final = items[:cut]
        del items[:cut]
        self.ids.difference_update([ident for _, ident, _ in final])
        return final

    def state(self) -> list[dict[str, Any]]:
        return [event_to_json(event) for _, _, event in self.items]

    def restore(self, state: list[dict[str, Any]]) -> None:
        events = [event_from_json(doc) for doc in state]
        self.items = [(event.ts.timestamp(), event.event_id.int, event) for event in events]
        self.ids = {ident for _, ident, _ in self.items}


def event_to_json(event: Event) -> dict[str, Any]:
    return {
        "event_id": str(event.event_id),
        "event_type": event.event_type,
        "source": event.source,
        "ts": event.ts.isoformat(),
        "payload": event.payload,
        "received_at": event.received_at.isoformat(),
    }


def event_from_json(doc: dict[str, Any]) -> Event:
    return Event(
        event_id=UUID(doc["event_id"]),
        event_type=doc["event_type"],
        source=doc["source"],
        ts=datetime.fromisoformat(doc["ts"]),
        payload=doc["payload"],
        received_at=datetime.fromisoformat(doc["received_at"]),
    )
