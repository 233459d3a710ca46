"""The fields of each rule type, and how they are read from a rule document.

What each type detects (DESIGN.md §4; the evaluation engine, not this module, is the reference
for the exact window arithmetic):

- `match`: every event that passes the filter is an anomaly.
- `threshold`: per group, the aggregate `agg` of `field` over a `window` (event time) compared
  with `value` by `op` (`gt gte lt lte`); `count` counts events and takes no `field`, `distinct`
  counts distinct values of `field`.
- `spike`: per group, the event count of the current `window` against the mean count of the
  `reference_windows` windows before it: an anomaly when it is at least `up` times that mean
  (`up` > 1) or at most `down` times it (0 < `down` < 1); `min_count` (>= 0) keeps near-empty
  windows from being judged.
- `absence`: a group seen before has fewer than `min_count` events in a `window`; a group silent
  for `forget_after` (at least one window; default: never) is forgotten.
- `new_value`: the first time `field` takes a value in a group, once `learning` (measured from
  the first event the rule sees) is over; `lookback` (default: forever) bounds how far back a
  value counts as already seen."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Final, TypeAlias

from eventpulse.domain.rules.durations import format_duration
from eventpulse.domain.rules.fields import FieldRef
from eventpulse.domain.rules.reader import REQUIRED, DocumentReader


class RuleType(enum.StrEnum):
    MATCH = "match"
    THRESHOLD = "threshold"
    SPIKE = "spike"
    ABSENCE = "absence"
    NEW_VALUE = "new_value"


class Aggregation(enum.StrEnum):
    COUNT = "count"
    SUM = "sum"
    AVG = "avg"
    MIN = "min"
    MAX = "max"
    DISTINCT = "distinct"


class ThresholdOp(enum.StrEnum):
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"


# Stand in for a value that failed to read: the document is rejected anyway.
_PLACEHOLDER: Final = FieldRef.parse("payload")
_ANY_DURATION: Final = 1


@dataclass(frozen=True, slots=True)
class MatchParams:
    type: ClassVar[RuleType] = RuleType.MATCH

    def to_document(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True, slots=True)
class ThresholdParams:
    type: ClassVar[RuleType] = RuleType.THRESHOLD
    agg: Aggregation
    window: int
    op: ThresholdOp
    value: float
    field: FieldRef | None = None

    def to_document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"agg": self.agg.value}
        if self.field is not None:
            doc["field"] = self.field.text
        doc |= {"window": format_duration(self.window), "op": self.op.value, "value": self.value}
        return doc


@dataclass(frozen=True, slots=True)
class SpikeParams:
    type: ClassVar[RuleType] = RuleType.SPIKE
    window: int
    up: float | None = None
    down: float | None = None
    reference_windows: int = 1
    min_count: int = 1

    def to_document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "window": format_duration(self.window),
            "reference_windows": self.reference_windows,
        }
        if self.up is not None:
            doc["up"] = self.up
        if self.down is not None:
            doc["down"] = self.down
        doc["min_count"] = self.min_count
        return doc


@dataclass(frozen=True, slots=True)
class AbsenceParams:
    type: ClassVar[RuleType] = RuleType.ABSENCE
    window: int
    min_count: int = 1
    forget_after: int | None = None

    def to_document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"window": format_duration(self.window), "min_count": self.min_count}
        if self.forget_after is not None:
            doc["forget_after"] = format_duration(self.forget_after)
        return doc


@dataclass(frozen=True, slots=True)
class NewValueParams:
    type: ClassVar[RuleType] = RuleType.NEW_VALUE
    field: FieldRef
    learning: int
    lookback: int | None = None

    def to_document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"field": self.field.text, "learning": format_duration(self.learning)}
        if self.lookback is not None:
            doc["lookback"] = format_duration(self.lookback)
        return doc


Params: TypeAlias = MatchParams | ThresholdParams | SpikeParams | AbsenceParams | NewValueParams


def _read_match(reader: DocumentReader) -> MatchParams:
    return MatchParams()


def _read_threshold(reader: DocumentReader) -> ThresholdParams:
    agg = reader.choice("agg", Aggregation, required=True)
    field = reader.field_ref("field")
    if agg is Aggregation.COUNT and reader.has("field"):
        reader.error("field", "not allowed when agg is 'count'")
    elif agg not in (None, Aggregation.COUNT) and not reader.has("field"):
        reader.error("field", f"{REQUIRED} when agg is {agg.value!r}")
    return ThresholdParams(
        agg=agg or Aggregation.COUNT,
        field=field,
        window=_window(reader),
        op=reader.choice("op", ThresholdOp, required=True) or ThresholdOp.GT,
        value=_value(reader),
    )


def _read_spike(reader: DocumentReader) -> SpikeParams:
    up = reader.number("up")
    down = reader.number("down")
    if up is not None and not up > 1:
        reader.error("up", "must be greater than 1")
    if down is not None and not 0 < down < 1:
        reader.error("down", "must be between 0 and 1 (exclusive)")
    if not reader.has("up") and not reader.has("down"):
        reader.error("up", f"{REQUIRED}: up, down or both")
    return SpikeParams(
        window=_window(reader),
        up=up,
        down=down,
        reference_windows=reader.integer("reference_windows", default=1, minimum=1, maximum=100),
        min_count=reader.integer("min_count", default=1, minimum=0),
    )


def _read_absence(reader: DocumentReader) -> AbsenceParams:
    window = reader.duration("window", required=True)
    forget_after = reader.duration("forget_after")
    if window is not None and forget_after is not None and forget_after < window:
        reader.error("forget_after", "must be at least the window")
    return AbsenceParams(
        window=window or _ANY_DURATION,
        min_count=reader.integer("min_count", default=1, minimum=1),
        forget_after=forget_after,
    )


def _read_new_value(reader: DocumentReader) -> NewValueParams:
    return NewValueParams(
        field=reader.field_ref("field", required=True) or _PLACEHOLDER,
        learning=reader.duration("learning", required=True) or _ANY_DURATION,
        lookback=reader.duration("lookback"),
    )


def _value(reader: DocumentReader) -> float:
    value = reader.number("value", required=True)
    return 0 if value is None else value


def _window(reader: DocumentReader) -> int:
    return reader.duration("window", required=True) or _ANY_DURATION


READERS: Final[dict[RuleType, Callable[[DocumentReader], Params]]] = {
    RuleType.MATCH: _read_match,
    RuleType.THRESHOLD: _read_threshold,
    RuleType.SPIKE: _read_spike,
    RuleType.ABSENCE: _read_absence,
    RuleType.NEW_VALUE: _read_new_value,
}

FIELDS: Final[dict[RuleType, frozenset[str]]] = {
    RuleType.MATCH: frozenset(),
    RuleType.THRESHOLD: frozenset({"agg", "field", "window", "op", "value"}),
    RuleType.SPIKE: frozenset({"window", "reference_windows", "up", "down", "min_count"}),
    RuleType.ABSENCE: frozenset({"window", "min_count", "forget_after"}),
    RuleType.NEW_VALUE: frozenset({"field", "learning", "lookback"}),
}
"""The fields each rule type adds to the common ones."""
