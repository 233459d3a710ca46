"""Comparing two backtests of one range: a candidate rule against the live one.

Anomaly ids differ between rule versions (they derive from the rule id and version), so
anomalies are matched by what they say: the same group, and spans `[window_start,
window_end]` that overlap once widened by `tolerance` on each side (bounds included, as a label
*hit* is). Each side's anomalies then fall in `both` (it has a match on the other side) or
`only_candidate` / `only_live`.
"""

from __future__ import annotations

import bisect
import html
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd

from eventpulse.workbench.results import BacktestResult, fires_per_day
from eventpulse.workbench.times import Duration, duration

if TYPE_CHECKING:
    from plotly.graph_objects import Figure


@dataclass(frozen=True)
class Comparison:
    candidate: BacktestResult
    live: BacktestResult
    both: pd.DataFrame
    """The candidate's anomalies that match one of the live rule's (`live_ids` lists them)."""
    only_candidate: pd.DataFrame
    only_live: pd.DataFrame
    tolerance: timedelta

    @property
    def fires_per_day(self) -> pd.DataFrame:
        """Anomalies per UTC day of the candidate's range, the two rules side by side."""
        since, until = self.candidate.since, self.candidate.until
        return pd.DataFrame(
            {
                "candidate": fires_per_day(self.candidate.anomalies, since, until),
                "live": fires_per_day(self.live.anomalies, since, until),
            }
        )

    def summary(self) -> pd.DataFrame:
        """Per side: anomalies, matched, only on this side, fires per day (mean, p95, max)."""
        rows: dict[str, dict[str, Any]] = {}
        matched_live = {i for ids in self.both["live_ids"] for i in ids}
        for side, result, only, matched in (
            ("candidate", self.candidate, self.only_candidate, len(self.both)),
            ("live", self.live, self.only_live, len(matched_live)),
        ):
            fires = result.raw.summary.fires_per_day
            rows[side] = {
                "rule": f"{result.rule_id}@{result.rule_version}",
                "anomalies": len(result.anomalies),
                "matched": matched,
                "only this side": len(only),
                "fires per day (mean)": fires.mean,
                "fires per day (p95)": fires.p95,
                "fires per day (max)": fires.max,
            }
        return pd.DataFrame(rows)

    def figure(self, *, title: str | None = None) -> Figure:
        """Fires per day of both rules as grouped bars."""
        import plotly.graph_objects as go

        per_day = self.fires_per_day
        figure = go.Figure(
            [go.Bar(x=per_day.index, y=per_day[side], name=side) for side in per_day.columns]
        )
        figure.update_layout(
            barmode="group",
            title=title or "Fires per day: candidate vs live",
            xaxis_title="day (UTC)",
            yaxis_title="anomalies",
        )
        return figure

    def __repr__(self) -> str:
        return (
            f"Comparison(both {len(self.both)}, only candidate {len(self.only_candidate)}, "
            f"only live {len(self.only_live)})"
        )

    def _repr_html_(self) -> str:
        return f"<strong>{html.escape(repr(self))}</strong>{self.summary().to_html()}"


def compare(
    candidate: BacktestResult, live: BacktestResult, *, tolerance: Duration = "0s"
) -> Comparison:
    """Which anomalies only the candidate raises, only the live rule raises, or both.

    >>> compare(wb.backtest(candidate, since, until), wb.backtest("machine-temperature-drop",
    ...         since, until), tolerance="1h")                         # doctest: +SKIP
    Comparison(both 9, only candidate 2, only live 3)
    """
    slack = duration(tolerance)
    ours, theirs = candidate.anomalies, live.anomalies
    our_matches = _matches(ours, theirs, slack)
    their_matched = _matches(theirs, ours, slack)
    both = ours[[bool(m) for m in our_matches]].copy()
    both["live_ids"] = pd.Series([m for m in our_matches if m], index=both.index, dtype=object)
    return Comparison(
        candidate=candidate,
        live=live,
        both=both,
        only_candidate=ours[[not m for m in our_matches]],
        only_live=theirs[[not m for m in their_matched]],
        tolerance=slack,
    )


def _matches(ours: pd.DataFrame, theirs: pd.DataFrame, slack: timedelta) -> list[list[str]]:
    """For each of our anomalies, the ids of their anomalies it matches."""
    by_group: dict[str, list[tuple[pd.Timestamp, pd.Timestamp, str]]] = defaultdict(list)
    for group, start, end, anomaly_id in zip(
        theirs["group"],
        theirs["window_start"],
        theirs["window_end"],
        theirs["anomaly_id"],
        strict=True,
    ):
        by_group[_key(group)].append((start, end, anomaly_id))
    longest: dict[str, pd.Timedelta] = {}
    for key, spans in by_group.items():
        spans.sort()
        longest[key] = max(end - start for start, end, _ in spans)
    found: list[list[str]] = []
    for group, start, end in zip(
        ours["group"], ours["window_start"], ours["window_end"], strict=True
    ):
        key = _key(group)
        spans = by_group.get(key, [])
        # Their spans start no later than our end (+ slack) and, being at most `longest` long,
        # no earlier than our start - slack - longest: only those can overlap.
        earliest = start - slack - longest.get(key, pd.Timedelta(0))
        low = bisect.bisect_left(spans, earliest, key=_start)
        high = bisect.bisect_right(spans, end + slack, key=_start)
        found.append([i for s, e, i in spans[low:high] if s - slack <= end and start - slack <= e])
    return found


def _start(span: tuple[pd.Timestamp, pd.Timestamp, str]) -> pd.Timestamp:
    return span[0]


def _key(group: Any) -> str:
    return json.dumps(group, sort_keys=True, default=str)
