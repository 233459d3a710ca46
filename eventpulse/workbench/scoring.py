"""Scoring a backtest against labelled incident windows (NAB's JSON, or a DataFrame).

The definitions are the application's (`eventpulse.application.labels`, which the CLI's
`backtest --labels` uses too): an anomaly *hits* a window when its span `[window_start,
window_end]` overlaps it, bounds included, and only windows of its own series count. Per
series in scope:

- recall = windows caught / windows; precision = anomalies hitting a window / anomalies;
  F1 = their harmonic mean (None when either is undefined);
- detection delay of a caught window = the first hitting anomaly's `ts` minus the window's start
  (0 when it fired before the window opened);
- false alarms = anomalies hitting no window (an anomaly of a series without windows is one);
  per series-day, over the days from the first to the last event the backtest scanned;
- missed incidents are listed by name (`<series> #<n> (<start day>)` for NAB windows).

An anomaly's series is its group's `source` (`series_field`); a rule that is not grouped by it
can be scored against one series at a time (`series=`).
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from eventpulse.application.labels import (
    Detection,
    Incident,
    IncidentScore,
    LabelWindow,
    label_windows,
    score_incidents,
)
from eventpulse.workbench.results import BacktestResult
from eventpulse.workbench.times import instant

LabelsInput = str | Path | Mapping[str, Any] | Sequence[Any] | pd.DataFrame


@dataclass(frozen=True)
class Score:
    """What `score` returns; `scored` holds the application's full result."""

    scored: IncidentScore

    @property
    def precision(self) -> float | None:
        return self.scored.precision

    @property
    def recall(self) -> float | None:
        return self.scored.recall

    @property
    def f1(self) -> float | None:
        return self.scored.f1

    @property
    def false_alarms(self) -> int:
        return self.scored.false_alarms

    @property
    def false_alarms_per_series_day(self) -> float | None:
        return self.scored.false_alarms_per_series_day

    @property
    def missed(self) -> list[str]:
        """The names of the incidents no anomaly hit."""
        return [incident.name for incident in self.scored.missed]

    @property
    def mean_delay(self) -> timedelta | None:
        delays = self.scored.delays
        return None if not delays else sum(delays, timedelta(0)) / len(delays)

    @property
    def by_window(self) -> pd.DataFrame:
        """One row per labelled window: series, name, start, end, caught, anomalies hitting
        it, first hit, delay."""
        rows = [
            {
                "series": o.incident.series,
                "incident": o.incident.name,
                "start": o.incident.window.start,
                "end": o.incident.window.end,
                "caught": o.caught,
                "anomalies": o.anomalies,
                "first hit": o.first_hit,
                "delay": o.delay,
            }
            for o in self.scored.outcomes
        ]
        columns = ["series", "incident", "start", "end", "caught", "anomalies", "first hit"]
        return pd.DataFrame(rows, columns=[*columns, "delay"])

    def as_dict(self) -> dict[str, Any]:
        s = self.scored
        return {
            "series": list(s.series),
            "windows": len(s.outcomes),
            "windows_caught": s.caught,
            "anomalies": s.anomalies,
            "anomalies_in_windows": s.true_positives,
            "false_alarms": s.false_alarms,
            "precision": s.precision,
            "recall": s.recall,
            "f1": s.f1,
            "false_alarms_per_series_day": s.false_alarms_per_series_day,
            "series_days": s.series_days,
            "mean_delay": self.mean_delay,
            "missed": self.missed,
        }

    def __repr__(self) -> str:
        s = self.scored
        return (
            f"Score(windows caught {s.caught}/{len(s.outcomes)}, "
            f"anomalies in a window {s.true_positives}/{s.anomalies}, "
            f"precision {_ratio(s.precision)}, recall {_ratio(s.recall)}, F1 {_ratio(s.f1)}, "
            f"false alarms/series-day {_ratio(s.false_alarms_per_series_day)}, "
            f"missed {self.missed})"
        )

    def _repr_html_(self) -> str:
        s = self.scored
        facts = [
            ("precision", _ratio(s.precision)),
            ("recall", _ratio(s.recall)),
            ("F1", _ratio(s.f1)),
            ("windows caught", f"{s.caught} of {len(s.outcomes)}"),
            ("anomalies in a window", f"{s.true_positives} of {s.anomalies}"),
            ("false alarms per series-day", _ratio(s.false_alarms_per_series_day)),
            ("mean detection delay", str(self.mean_delay)),
            ("missed", ", ".join(self.missed) or "none"),
        ]
        rows = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
            for k, v in facts
        )
        return f"<table>{rows}</table>{self.by_window.to_html(index=False)}"


def score(
    result: BacktestResult,
    labels: LabelsInput,
    *,
    series: str | Sequence[str] | None = None,
    series_field: str = "source",
) -> Score:
    """Score a backtest against labelled windows.

    `labels`: NAB's windows JSON (a path, or the loaded mapping of data file → `[[start,
    end], ...]`; a file is also found by its stem, which `eventpulse ingest` uses as source),
    a plain list of `[start, end]` windows (one series: name it with `series`), or a DataFrame
    with `start`, `end`, `series` (or `source`) and optionally `name` columns.
    `series`: the series to score (default: every labelled series and every series the
    anomalies are on, by name).

    >>> score(result, "data/nab/labels/combined_windows.json",
    ...       series="machine_temperature_system_failure")            # doctest: +SKIP
    Score(windows caught 3/4, anomalies in a window 10/12, ...)
    """
    wanted = [series] if isinstance(series, str) else None if series is None else list(series)
    incidents = incidents_from(labels, default_series=wanted[0] if wanted else None)
    detections = _detections(result.anomalies, series_field)
    if wanted is None:
        seen = [d.series for d in detections if d.series is not None]
        wanted = sorted({i.series for i in incidents} | set(seen))
    first, last = result.raw.summary.first_event_ts, result.raw.summary.last_event_ts
    days = 0.0 if first is None or last is None else (last - first) / timedelta(days=1)
    return Score(score_incidents(detections, incidents, wanted, days * len(wanted)))


def incidents_from(labels: LabelsInput, *, default_series: str | None = None) -> list[Incident]:
    """Labelled windows as named incidents (see `score` for the accepted shapes)."""
    if isinstance(labels, pd.DataFrame):
        return _from_frame(labels, default_series)
    loaded: Any = json.loads(Path(labels).read_text()) if isinstance(labels, str | Path) else labels
    if isinstance(loaded, Mapping):
        return [
            incident
            for key, windows in loaded.items()
            for incident in _named(_stem(str(key)), label_windows(windows))
        ]
    if default_series is None:
        raise ValueError("a plain list of windows needs series= to say whose they are")
    return _named(default_series, label_windows(list(loaded)))


def _named(series: str, windows: Iterable[LabelWindow]) -> list[Incident]:
    return [
        Incident(series, f"{series} #{n} ({w.start:%Y-%m-%d})", w)
        for n, w in enumerate(windows, start=1)
    ]


def _from_frame(frame: pd.DataFrame, default_series: str | None) -> list[Incident]:
    column = next((c for c in ("series", "source") if c in frame.columns), None)
    if column is None and default_series is None:
        raise ValueError("the labels need a series (or source) column, or series=")
    incidents: list[Incident] = []
    counts: dict[str, int] = {}
    for record in frame.sort_values("start").to_dict("records"):
        name_of = str(record[column]) if column is not None else str(default_series)
        window = LabelWindow(instant(record["start"], "start"), instant(record["end"], "end"))
        counts[name_of] = counts.get(name_of, 0) + 1
        label = record.get("name")
        if not isinstance(label, str) or not label:
            label = f"{name_of} #{counts[name_of]} ({window.start:%Y-%m-%d})"
        incidents.append(Incident(name_of, label, window))
    return incidents


def _detections(anomalies: pd.DataFrame, series_field: str) -> list[Detection]:
    def series_of(group: Mapping[str, Any]) -> str | None:
        value = group.get(series_field)
        return None if value is None else str(value)

    return [
        Detection(series_of(group), _py(start), _py(end), _py(ts))
        for group, start, end, ts in zip(
            anomalies["group"],
            anomalies["window_start"],
            anomalies["window_end"],
            anomalies["ts"],
            strict=True,
        )
    ]


def _py(moment: Any) -> datetime:
    converted: datetime = moment.to_pydatetime() if hasattr(moment, "to_pydatetime") else moment
    return converted


def _stem(key: str) -> str:
    return PurePosixPath(key).stem


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"
