"""`threshold`: per group, an aggregate over each window compared with a constant.

At the close of a window `[s, e)`, each group with at least one event in it is judged (groups
are judged in the order of their first event in the window): an anomaly when `agg op value`
holds, with ts = e, value = the aggregate and details `agg`, `op`, `threshold`, `count` (and
`field` and, for numeric aggregates, `skipped`). Final events come in event-time order, so at
most one window is open at a time; see `aggregates` for what each aggregate means.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any, Final

from eventpulse.domain.engine.emitter import Finding
from eventpulse.domain.engine.keys import GroupKey, getter, group_key_of, group_values
from eventpulse.domain.engine.machines.aggregates import Distinct, Numeric
from eventpulse.domain.engine.machines.base import FinalEvent, MachineContext
from eventpulse.domain.engine.windows import window_start
from eventpulse.domain.rules import Aggregation, ThresholdOp, ThresholdParams

OPERATORS: Final[dict[ThresholdOp, Callable[[float, float], bool]]] = {
    ThresholdOp.GT: operator.gt,
    ThresholdOp.GTE: operator.ge,
    ThresholdOp.LT: operator.lt,
    ThresholdOp.LTE: operator.le,
}

Accumulator = int | Numeric | Distinct


class ThresholdMachine:
    def __init__(self, params: ThresholdParams, context: MachineContext) -> None:
        self._params = params
        self._width = params.window
        self._compare = OPERATORS[params.op]
        self._key = context.group_key
        self._emit = context.emitter.emit
        self._start: int | None = None
        self._groups: dict[GroupKey, Any] = {}

    def process(self, final: Sequence[FinalEvent], until: float) -> None:
        # Two loops on purpose: `count`, the most common aggregate, keeps plain ints per group
        # instead of accumulator objects (the engine's hot loop; see the throughput target).
        if self._params.agg is Aggregation.COUNT:
            self._count(final)
        else:
            self._accumulate(final)
        if self._start is not None and self._start + self._width <= until:
            self._close()

    def _count(self, final: Sequence[FinalEvent]) -> None:
        width, key, groups = self._width, self._key, self._groups
        end = float("-inf") if self._start is None else self._start + width
        for ts, _, event in final:
            if ts >= end:
                groups = self._open(ts)
                end = self._start + width  # type: ignore[operator]
            k = key(event)
            groups[k] = groups.get(k, 0) + 1

    def _accumulate(self, final: Sequence[FinalEvent]) -> None:
        width, key, groups = self._width, self._key, self._groups
        get = getter(self._params.field)  # type: ignore[arg-type]
        new = Distinct if self._params.agg is Aggregation.DISTINCT else Numeric
        end = float("-inf") if self._start is None else self._start + width
        for ts, _, event in final:
            if ts >= end:
                groups = self._open(ts)
                end = self._start + width  # type: ignore[operator]
            k = key(event)
            accumulator = groups.get(k)
            if accumulator is None:
                groups[k] = accumulator = new()
            accumulator.add(get(event))

    def _open(self, ts: float) -> dict[GroupKey, Any]:
        if self._start is not None:
            self._close()
        self._start = window_start(ts, self._width)
        return self._groups

    def _close(self) -> None:
        start = self._start
        assert start is not None
        window = (start, start + self._width)
        for group, accumulator in self._groups.items():
            finding = self._judge(group, accumulator, window)
            if finding is not None:
                self._emit(finding)
        self._start, self._groups = None, {}

    def _judge(
        self, group: GroupKey, accumulator: Accumulator, window: tuple[int, int]
    ) -> Finding | None:
        params = self._params
        if isinstance(accumulator, int):
            value: float | None = accumulator
            details: dict[str, Any] = {"agg": params.agg.value, "count": accumulator}
        else:
            value = accumulator.result(params.agg)
            details = {"agg": params.agg.value, "field": str(params.field)}
            details["count"] = accumulator.count
            if isinstance(accumulator, Numeric):
                details["skipped"] = accumulator.skipped
        if value is None or not self._compare(value, params.value):
            return None
        details |= {"op": params.op.value, "threshold": params.value}
        return Finding(group, window[1], window, value, details)

    def state(self) -> dict[str, Any]:
        return {
            "start": self._start,
            "groups": [
                [group_values(k), acc if isinstance(acc, int) else acc.state()]
                for k, acc in self._groups.items()
            ],
        }

    def restore(self, state: dict[str, Any]) -> None:
        self._start = state["start"]
        new = Distinct if self._params.agg is Aggregation.DISTINCT else Numeric
        self._groups = {
            group_key_of(values): acc if isinstance(acc, int) else new.restore(acc)
            for values, acc in state["groups"]
        }
