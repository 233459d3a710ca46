"""Windows that close even when empty, for the types that judge silence (`spike`, `absence`).

While the type knows at least one group, every window closes in turn, empty or not, as event
time passes it. When it knows none, nothing can be judged: the clock of windows stops and
restarts at the window of the next final event, so a long gap costs nothing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from eventpulse.domain.engine.keys import GroupKey, group_key_of, group_values
from eventpulse.domain.engine.machines.base import FinalEvent, MachineContext
from eventpulse.domain.engine.windows import window_start


class TickingWindows(ABC):
    def __init__(self, width: int, context: MachineContext) -> None:
        self._width = width
        self._key = context.group_key
        self._emit = context.emitter.emit
        self._start: int | None = None
        self._counts: dict[GroupKey, int] = {}

    def process(self, final: Sequence[FinalEvent], until: float) -> None:
        end = float("-inf") if self._start is None else self._start + self._width
        counts, key = self._counts, self._key
        for ts, _, event in final:
            if ts >= end:
                self._close_until(ts)
                if self._start is None:
                    self._start = window_start(ts, self._width)
                end = self._start + self._width
                counts = self._counts
            group = key(event)
            counts[group] = counts.get(group, 0) + 1
            self._seen(group, ts)
        self._close_until(until)

    def _close_until(self, until: float) -> None:
        while self._start is not None and self._start + self._width <= until:
            self._close(self._start)
            self._counts = {}
            self._start = self._start + self._width if self._knows_any() else None

    @abstractmethod
    def _seen(self, group: GroupKey, ts: float) -> None:
        """A final event of `group` at `ts`, in the current window."""

    @abstractmethod
    def _close(self, start: int) -> None:
        """Judge the window `[start, start + width)` and update what the type remembers."""

    @abstractmethod
    def _knows_any(self) -> bool: ...

    def _window_state(self) -> dict[str, Any]:
        return {
            "start": self._start,
            "counts": [[group_values(k), n] for k, n in self._counts.items()],
        }

    def _restore_window(self, state: dict[str, Any]) -> None:
        self._start = state["start"]
        self._counts = {group_key_of(values): n for values, n in state["counts"]}
