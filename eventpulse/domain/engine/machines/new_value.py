"""`new_value`: the first time `field` takes a value, per group, after a learning period.

Learning ends at the ts of the first final event the rule sees (any group, with or without the
field) plus `learning`. Each final event whose `field` is present (a JSON null is a value) is
new when its group has not seen that value (JSON equality), or saw it last more than `lookback`
before (`ts - seen > lookback`); a new value at ts >= the end of learning is an anomaly: ts,
window_start and window_end = the event's ts, value null, details `field`, `value`,
`event_id`; the id includes the event id. Either way the value is then recorded as seen at ts.
With `lookback`, values seen more than `lookback` ago are dropped from memory (they would count
as unseen anyway); without it, memory grows with the number of distinct values.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from eventpulse.domain.engine.emitter import Finding
from eventpulse.domain.engine.keys import (
    GroupKey,
    getter,
    group_key_of,
    group_values,
    key_value,
    value_key,
)
from eventpulse.domain.engine.machines.base import FinalEvent, MachineContext
from eventpulse.domain.rules import MISSING, NewValueParams


class NewValueMachine:
    def __init__(self, params: NewValueParams, context: MachineContext) -> None:
        self._params = params
        self._key = context.group_key
        self._emit = context.emitter.emit
        self._learning_ends: float | None = None
        self._seen: dict[tuple[GroupKey, Hashable], float] = {}
        self._pruned_at = float("-inf")

    def process(self, final: Sequence[FinalEvent], until: float) -> None:
        if final and self._learning_ends is None:
            self._learning_ends = final[0][0] + self._params.learning
        get, lookback, seen = getter(self._params.field), self._params.lookback, self._seen
        for ts, _, event in final:
            value = get(event)
            if value is MISSING:
                continue
            key = (self._key(event), value_key(value))
            last = seen.get(key)
            is_new = last is None or (lookback is not None and ts - last > lookback)
            if is_new and ts >= self._learning_ends:  # type: ignore[operator]
                self._report(key, ts, event)
            seen[key] = ts
        self._prune(until)

    def _report(self, key: tuple[GroupKey, Hashable], ts: float, event: Any) -> None:
        event_id = str(event.event_id)
        details = {
            "field": self._params.field.text,
            "value": key_value(key[1]),
            "event_id": event_id,
        }
        self._emit(Finding(key[0], ts, (ts, ts), None, details, event_id, event.ts))

    def _prune(self, until: float) -> None:
        # Every later event has ts >= until, so a value seen before until - lookback is unseen.
        lookback = self._params.lookback
        if lookback is None or until - self._pruned_at < lookback:
            return
        self._pruned_at = until
        self._seen = {key: ts for key, ts in self._seen.items() if until - ts <= lookback}

    def state(self) -> dict[str, Any]:
        seen = [[group_values(g), key_value(v), ts] for (g, v), ts in self._seen.items()]
        return {"learning_ends": self._learning_ends, "seen": seen}

    def restore(self, state: dict[str, Any]) -> None:
        self._learning_ends = state["learning_ends"]
        self._seen = {
            (group_key_of(values), value_key(value)): ts for values, value, ts in state["seen"]
        }
        self._pruned_at = float("-inf")
