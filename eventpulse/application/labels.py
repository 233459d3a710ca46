"""Scoring anomalies against labelled windows (NAB's `combined_windows.json` and the like).

A label file holds anomaly windows: a list of `[start, end]` pairs, or a mapping from series
name to such lists (NAB's format, keyed by data file; a key is also found by its file stem, so
`machine_temperature_system_failure` selects `realKnownCause/machine_temperature_system_failure
.csv`). Times without an offset are UTC, as in NAB.

An anomaly *hits* a window when its span `[window_start, window_end]` (a single instant for the
per-event types) overlaps the window, bounds included (`hits`, the one definition used by the
CLI and the notebook workbench). The score says how many windows were caught (recall) and how
many anomalies fell in some window (precision).

`score_incidents` scores several series at once (the workbench's `score`): a window counts only
anomalies of its own series; an anomaly of a series without windows is a false alarm; each
caught window gets a detection delay (the earliest hitting anomaly's `ts` minus the window's
start, 0 when it fired before the window opened); false alarms are also given per series-day.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import PurePosixPath
from typing import Any

from eventpulse.domain.errors import FieldError, InvalidInput


@dataclass(frozen=True, slots=True)
class LabelWindow:
    start: datetime
    end: datetime


def hits(start: datetime, end: datetime, window: LabelWindow) -> bool:
    """Whether an anomaly spanning `[start, end]` hits `window`: they overlap, bounds included."""
    return start <= window.end and window.start <= end


@dataclass(frozen=True, slots=True)
class LabelScore:
    windows: int
    windows_caught: int
    anomalies: int
    anomalies_in_windows: int
    missed: list[LabelWindow] = field(default_factory=list)

    @property
    def recall(self) -> float | None:
        return None if not self.windows else self.windows_caught / self.windows

    @property
    def precision(self) -> float | None:
        return None if not self.anomalies else self.anomalies_in_windows / self.anomalies

    def as_dict(self) -> dict[str, Any]:
        return {
            "windows": self.windows,
            "windows_caught": self.windows_caught,
            "anomalies": self.anomalies,
            "anomalies_in_windows": self.anomalies_in_windows,
            "recall": self.recall,
            "precision": self.precision,
            "missed": [[w.start.isoformat(), w.end.isoformat()] for w in self.missed],
        }


def label_windows(data: Any, series: str | None = None) -> list[LabelWindow]:
    """The windows of a label document; `series` picks one entry of a mapping (required when
    it has several). `InvalidInput` names what is wrong (`labels[3]`, `series`)."""
    if isinstance(data, Mapping):
        data = _pick(data, series)
    elif series is not None:
        raise InvalidInput([FieldError("series", "the labels file is a list, not a mapping")])
    if not isinstance(data, list):
        raise InvalidInput([FieldError("labels", "expected a list of [start, end] windows")])
    windows: list[LabelWindow] = []
    errors: list[FieldError] = []
    for index, pair in enumerate(data):
        try:
            start, end = (_instant(value) for value in pair)
        except (TypeError, ValueError):
            errors.append(FieldError(f"labels[{index}]", "expected [start, end] timestamps"))
            continue
        if end < start:
            errors.append(FieldError(f"labels[{index}]", "ends before it starts"))
            continue
        windows.append(LabelWindow(start, end))
    if errors:
        raise InvalidInput(errors, "invalid labels")
    return sorted(windows, key=lambda w: w.start)


def score(spans: Sequence[tuple[datetime, datetime]], windows: Sequence[LabelWindow]) -> LabelScore:
    """Score anomalies given as `(window_start, window_end)` spans."""
    caught: set[int] = set()
    inside = 0
    for start, end in spans:
        hit = [i for i, w in enumerate(windows) if hits(start, end, w)]
        caught.update(hit)
        inside += bool(hit)
    missed = [w for i, w in enumerate(windows) if i not in caught]
    return LabelScore(len(windows), len(caught), len(spans), inside, missed)


@dataclass(frozen=True, slots=True)
class Incident:
    """A labelled window of one series, with a name to list it by."""

    series: str
    name: str
    window: LabelWindow


@dataclass(frozen=True, slots=True)
class Detection:
    """An anomaly to score: its series (None: not known), its span and when it fired (`ts`)."""

    series: str | None
    start: datetime
    end: datetime
    ts: datetime


@dataclass(frozen=True, slots=True)
class IncidentOutcome:
    incident: Incident
    anomalies: int
    """How many anomalies of its series hit the window."""
    first_hit: datetime | None
    """`ts` of the earliest anomaly that hit the window (None: missed)."""

    @property
    def caught(self) -> bool:
        return self.anomalies > 0

    @property
    def delay(self) -> timedelta | None:
        """From the window's start to the first hit; 0 when that anomaly fired before it."""
        if self.first_hit is None:
            return None
        return max(timedelta(0), self.first_hit - self.incident.window.start)


@dataclass(frozen=True, slots=True)
class IncidentScore:
    """Windows caught (recall), anomalies in a window of their series (precision), F1,
    detection delays and false alarms per series-day, over `series`."""

    series: tuple[str, ...]
    outcomes: tuple[IncidentOutcome, ...]
    anomalies: int
    true_positives: int
    series_days: float

    @property
    def false_alarms(self) -> int:
        return self.anomalies - self.true_positives

    @property
    def caught(self) -> int:
        return sum(outcome.caught for outcome in self.outcomes)

    @property
    def recall(self) -> float | None:
        return None if not self.outcomes else self.caught / len(self.outcomes)

    @property
    def precision(self) -> float | None:
        return None if not self.anomalies else self.true_positives / self.anomalies

    @property
    def f1(self) -> float | None:
        precision, recall = self.precision, self.recall
        if precision is None or recall is None:
            return None
        return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)

    @property
    def false_alarms_per_series_day(self) -> float | None:
        return None if self.series_days <= 0 else self.false_alarms / self.series_days

    @property
    def missed(self) -> list[Incident]:
        return [outcome.incident for outcome in self.outcomes if not outcome.caught]

    @property
    def delays(self) -> list[timedelta]:
        return [o.delay for o in self.outcomes if o.delay is not None]


def score_incidents(
    detections: Sequence[Detection],
    incidents: Sequence[Incident],
    series: Sequence[str],
    series_days: float,
) -> IncidentScore:
    """Score the detections of `series` against the incidents of `series` (others are left out).

    A detection whose series is None belongs to the only series in scope; with several it is
    an error (`InvalidInput` at `series`): group the rule by the series field, or name one.
    """
    scope = tuple(dict.fromkeys(series))
    by_series: dict[str, list[int]] = {}
    for index, incident in enumerate(incidents):
        if incident.series in scope:
            by_series.setdefault(incident.series, []).append(index)
    hit_count = [0] * len(incidents)
    first: list[datetime | None] = [None] * len(incidents)
    scored = true_positives = 0
    for detection in detections:
        name = _series_of(detection, scope)
        if name not in scope:
            continue
        scored += 1
        hit = [
            i
            for i in by_series.get(name, [])
            if hits(detection.start, detection.end, incidents[i].window)
        ]
        true_positives += bool(hit)
        for i in hit:
            hit_count[i] += 1
            earliest = first[i]
            first[i] = detection.ts if earliest is None else min(earliest, detection.ts)
    outcomes = tuple(
        IncidentOutcome(incidents[i], hit_count[i], first[i])
        for name in scope
        for i in by_series.get(name, [])
    )
    return IncidentScore(scope, outcomes, scored, true_positives, series_days)


def _series_of(detection: Detection, scope: tuple[str, ...]) -> str | None:
    if detection.series is not None:
        return detection.series
    if len(scope) == 1:
        return scope[0]
    raise InvalidInput(
        [FieldError("series", "an anomaly has no series: group the rule by it, or name one")]
    )


def _pick(data: Mapping[Any, Any], series: str | None) -> Any:
    if series is None:
        if len(data) == 1:
            return next(iter(data.values()))
        names = ", ".join(sorted(map(str, data))[:5])
        raise InvalidInput([FieldError("series", f"the labels file has several; one of: {names}")])
    for key, value in data.items():
        if series in (key, PurePosixPath(str(key)).stem):
            return value
    raise InvalidInput([FieldError("series", f"no series {series!r} in the labels file")])


def _instant(value: Any) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        moment = datetime.fromisoformat(value)
    else:
        raise TypeError(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
