"""Scoring anomalies against labelled windows (NAB's `combined_windows.json` and the like).

A label file holds anomaly windows: a list of `[start, end]` pairs, or a mapping from series
name to such lists (NAB's format, keyed by data file; a key is also found by its file stem, so
`machine_temperature_system_failure` selects `realKnownCause/machine_temperature_system_failure
.csv`). Times without an offset are UTC, as in NAB.

An anomaly *hits* a window when its span `[window_start, window_end]` (a single instant for the
per-event types) overlaps the window, bounds included. The score says how many windows were
caught (recall) and how many anomalies fell in some window (precision).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

from eventpulse.domain.errors import FieldError, InvalidInput


@dataclass(frozen=True, slots=True)
class LabelWindow:
    start: datetime
    end: datetime


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
        hits = [i for i, w in enumerate(windows) if start <= w.end and w.start <= end]
        caught.update(hits)
        inside += bool(hits)
    missed = [w for i, w in enumerate(windows) if i not in caught]
    return LabelScore(len(windows), len(caught), len(spans), inside, missed)


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
