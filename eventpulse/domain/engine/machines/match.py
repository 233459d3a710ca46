"""`match`: every final event that passes the filter is an anomaly.

Its ts, window_start and window_end are the event's ts; value is null; details hold the event's
event_id, event_type and source; the id includes the event id. The type keeps no state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventpulse.domain.engine.emitter import Finding
from eventpulse.domain.engine.machines.base import FinalEvent, MachineContext


class MatchMachine:
    def __init__(self, context: MachineContext) -> None:
        self._key = context.group_key
        self._emit = context.emitter.emit

    def process(self, final: Sequence[FinalEvent], until: float) -> None:
        for ts, _, event in final:
            event_id = str(event.event_id)
            details = {
                "event_id": event_id,
                "event_type": event.event_type,
                "source": event.source,
            }
            self._emit(Finding(self._key(event), ts, (ts, ts), None, details, event_id, event.ts))

    def state(self) -> dict[str, Any]:
        return {}

    def restore(self, state: dict[str, Any]) -> None:
        pass
