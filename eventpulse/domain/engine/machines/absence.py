"""`absence`: a known group has fewer than `min_count` events in a window.

A group becomes known with its first final event. At the close of every window `[s, e)` after
the window of that first event, every known group with fewer than `min_count` events in it is an
anomaly: ts = e, value = the count, details `min_count` and `last_seen` (ISO 8601). With
`forget_after` set, a group is forgotten after a close when `e - last_seen > forget_after`: it is
judged in a window only while `s - last_seen <= forget_after`, so a silence yields at most
`forget_after / window` anomalies; its next event makes it known again, as a new group. Groups
are judged in the order they became known.
"""

from __future__ import annotations

from typing import Any

from eventpulse.domain.engine.emitter import Finding
from eventpulse.domain.engine.keys import GroupKey, group_key_of, group_values
from eventpulse.domain.engine.machines.base import MachineContext
from eventpulse.domain.engine.machines.ticking import TickingWindows
from eventpulse.domain.engine.windows import to_datetime
from eventpulse.domain.rules import AbsenceParams


class AbsenceMachine(TickingWindows):
    def __init__(self, params: AbsenceParams, context: MachineContext) -> None:
        super().__init__(params.window, context)
        self._min_count = params.min_count
        self._forget_after = params.forget_after
        # group -> [start of the window it became known in, ts of its last event]
        self._known: dict[GroupKey, list[Any]] = {}

    def _seen(self, group: GroupKey, ts: float) -> None:
        known = self._known.get(group)
        if known is None:
            self._known[group] = [self._start, ts]
        else:
            known[1] = ts

    def _knows_any(self) -> bool:
        return bool(self._known)

    def _close(self, start: int) -> None:
        end = start + self._width
        forgotten = []
        for group, (first, last_seen) in self._known.items():
            count = self._counts.get(group, 0)
            if first < start and count < self._min_count:
                details = {"min_count": self._min_count, "last_seen": _iso(last_seen)}
                self._emit(Finding(group, end, (start, end), count, details))
            if self._forget_after is not None and end - last_seen > self._forget_after:
                forgotten.append(group)
        for group in forgotten:
            del self._known[group]

    def state(self) -> dict[str, Any]:
        known = [[group_values(k), first, last] for k, (first, last) in self._known.items()]
        return self._window_state() | {"known": known}

    def restore(self, state: dict[str, Any]) -> None:
        self._restore_window(state)
        known = state["known"]
        self._known = {group_key_of(values): [first, last] for values, first, last in known}


def _iso(epoch: float) -> str:
    return to_datetime(epoch).isoformat()
