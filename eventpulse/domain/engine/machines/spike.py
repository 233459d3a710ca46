"""`spike`: a window's count against the mean count of the `reference_windows` before it.

Per group, at the close of every window `[s, e)` (empty windows count 0 for a known group), once
the R = `reference_windows` windows before it all start at or after the window of the group's
first event: cur = the count in `[s, e)`, ref = the mean count of those R windows.
- up: an anomaly when ref > 0, cur >= up * ref and cur >= min_count;
- down: an anomaly when ref > 0, ref >= min_count and cur <= down * ref (ref > 0 even when
  min_count is 0: a group whose reference is all zeros has nothing to fall from, and would
  otherwise fire in every window forever).
ts = e, value = cur, details `reference` (ref), `ratio` (cur / ref), `direction` (`up`/`down`).
A group whose last R windows are all empty is forgotten (it could not fire: ref = 0); when it
comes back it is a new group and waits R windows again, so a reference deflated by the silence
never judges it. Groups are judged in the order they became known.
"""

from __future__ import annotations

from typing import Any

from eventpulse.domain.engine.emitter import Finding
from eventpulse.domain.engine.keys import GroupKey, group_key_of, group_values
from eventpulse.domain.engine.machines.base import MachineContext
from eventpulse.domain.engine.machines.ticking import TickingWindows
from eventpulse.domain.rules import SpikeParams


class SpikeMachine(TickingWindows):
    def __init__(self, params: SpikeParams, context: MachineContext) -> None:
        super().__init__(params.window, context)
        self._params = params
        self._references = params.reference_windows
        # group -> [start of its first window, counts of the R windows before the current one]
        self._known: dict[GroupKey, list[Any]] = {}

    def _seen(self, group: GroupKey, ts: float) -> None:
        if group not in self._known:
            self._known[group] = [self._start, [0] * self._references]

    def _knows_any(self) -> bool:
        return bool(self._known)

    def _close(self, start: int) -> None:
        mature_since = start - self._references * self._width
        forgotten = []
        for group, (first, history) in self._known.items():
            count = self._counts.get(group, 0)
            if first <= mature_since:
                self._judge(group, start, count, sum(history) / self._references)
            history.pop(0)
            history.append(count)
            if not any(history):
                forgotten.append(group)
        for group in forgotten:
            del self._known[group]

    def _judge(self, group: GroupKey, start: int, count: int, reference: float) -> None:
        if reference <= 0:
            return
        up, down, min_count = self._params.up, self._params.down, self._params.min_count
        if up is not None and count >= up * reference and count >= min_count:
            direction = "up"
        elif down is not None and reference >= min_count and count <= down * reference:
            direction = "down"
        else:
            return
        end = start + self._width
        details = {"reference": reference, "ratio": count / reference, "direction": direction}
        self._emit(Finding(group, end, (start, end), count, details))

    def state(self) -> dict[str, Any]:
        known = [[group_values(k), first, list(hist)] for k, (first, hist) in self._known.items()]
        return self._window_state() | {"known": known}

    def restore(self, state: dict[str, Any]) -> None:
        self._restore_window(state)
        known = state["known"]
        self._known = {group_key_of(values): [first, list(hist)] for values, first, hist in known}
