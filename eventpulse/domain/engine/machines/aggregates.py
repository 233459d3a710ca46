"""The aggregates of a `threshold` window, per group.

`count` counts the window's events. `sum`, `avg`, `min`, `max` read `field` and use only JSON
numbers (ints and finite floats, never booleans); other or missing values are `skipped`. The
sum of no numbers is 0; the avg, min and max of no numbers are undefined, and an undefined
aggregate is never compared (no anomaly). `distinct` is the number of distinct JSON values of
`field` (JSON equality: `1` and `1.0` are one value), missing values ignored. Numbers are summed
in (ts, event_id) order, so float rounding is the same on every run.
"""

from __future__ import annotations

import json
from collections.abc import Hashable
from typing import Any

from eventpulse.domain.engine.keys import key_value, value_key
from eventpulse.domain.rules import MISSING, Aggregation
from eventpulse.domain.rules.json_values import is_number


class Numeric:
    __slots__ = ("count", "high", "low", "numbers", "skipped", "total")

    def __init__(self) -> None:
        self.count = 0
        self.skipped = 0
        self.numbers = 0
        self.total: float = 0
        self.low: float | None = None
        self.high: float | None = None

    def add(self, value: Any) -> None:
        self.count += 1
        if not is_number(value):
            self.skipped += 1
            return
        self.numbers += 1
        self.total += value
        if self.low is None or value < self.low:
            self.low = value
        if self.high is None or value > self.high:
            self.high = value

    def result(self, agg: Aggregation) -> float | None:
        if agg is Aggregation.SUM:
            return self.total
        if not self.numbers:
            return None
        if agg is Aggregation.AVG:
            return self.total / self.numbers
        return self.low if agg is Aggregation.MIN else self.high

    def state(self) -> list[Any]:
        return [self.count, self.skipped, self.numbers, self.total, self.low, self.high]

    @classmethod
    def restore(cls, state: list[Any]) -> Numeric:
        numeric = cls()
        (numeric.count, numeric.skipped, numeric.numbers) = state[:3]
        (numeric.total, numeric.low, numeric.high) = state[3:]
        return numeric


class Distinct:
    __slots__ = ("count", "values")

    def __init__(self) -> None:
        self.count = 0
        self.values: set[Hashable] = set()

    def add(self, value: Any) -> None:
        self.count += 1
        if value is not MISSING:
            self.values.add(value_key(value))

    def result(self, agg: Aggregation) -> float | None:
        return len(self.values)

    def state(self) -> list[Any]:
        # Sorted, so that a restored state reads back the same whatever the set's order.
        values = [key_value(key) for key in self.values]
        return [self.count, sorted(values, key=lambda value: json.dumps(value, sort_keys=True))]

    @classmethod
    def restore(cls, state: list[Any]) -> Distinct:
        distinct = cls()
        distinct.count = state[0]
        distinct.values = {value_key(value) for value in state[1]}
        return distinct
