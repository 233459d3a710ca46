"""A backtest's outcome for notebooks: anomalies as a DataFrame, summary, groups, timeline.

It wraps the application's `BacktestResult` (the very anomalies the worker's engine yields for
that rule version and those stored events: invariant 6) and adds nothing to them.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

import pandas as pd

from eventpulse.application import backtest
from eventpulse.workbench.authoring import Rule
from eventpulse.workbench.frames import anomalies_frame, group_label

if TYPE_CHECKING:
    from plotly.graph_objects import Figure


class BacktestResult:
    """What `Workbench.backtest` returns.

    >>> result = wb.backtest(cold, "2013-12-02", "2014-02-20")   # doctest: +SKIP
    >>> result.summary()["anomalies"]                            # doctest: +SKIP
    12
    """

    def __init__(self, result: backtest.BacktestResult, rule: Rule | None = None) -> None:
        self.raw = result
        """The application's result (anomalies as domain objects, the summary dataclass)."""
        self.rule = rule
        """The rule document backtested (None for a stored version)."""

    @property
    def rule_id(self) -> str:
        return self.raw.summary.rule_id

    @property
    def rule_version(self) -> int:
        return self.raw.summary.rule_version

    @property
    def since(self) -> datetime:
        return self.raw.summary.since

    @property
    def until(self) -> datetime:
        return self.raw.summary.until

    @cached_property
    def anomalies(self) -> pd.DataFrame:
        """One row per anomaly (columns: see `eventpulse.workbench.frames`), by `ts`."""
        return anomalies_frame(self.raw.anomalies)

    def summary(self) -> pd.Series:
        """Events scanned, anomalies, groups, fires per day, the engine's counters."""
        s = self.raw.summary
        return pd.Series(
            {
                "rule": f"{s.rule_id}@{s.rule_version}",
                "since": s.since,
                "until": s.until,
                "events scanned": s.events_scanned,
                "first event": s.first_event_ts,
                "last event": s.last_event_ts,
                "anomalies": s.anomalies,
                "truncated": s.truncated,
                "groups": s.groups,
                "days": s.days,
                "fires per day (mean)": s.fires_per_day.mean,
                "fires per day (p95)": s.fires_per_day.p95,
                "fires per day (max)": s.fires_per_day.max,
                "late dropped": s.late_dropped,
                "duplicates": s.duplicates,
                "replayed": s.replayed,
                "suppressed (cooldown)": s.suppressed,
            },
            name=f"{s.rule_id}@{s.rule_version}",
            dtype=object,
        )

    def top_groups(self, n: int = 10) -> pd.DataFrame:
        """The `n` groups with the most anomalies: count, first and last `ts`, value range."""
        frame = self.anomalies
        columns = ["group", "anomalies", "first", "last", "min value", "max value"]
        if frame.empty:
            return pd.DataFrame(columns=columns)
        labelled = frame.assign(label=[group_label(g) for g in frame["group"]])
        top = (
            labelled.groupby("label", sort=False)
            .agg(
                anomalies=("anomaly_id", "size"),
                first=("ts", "min"),
                last=("ts", "max"),
                min_value=("value", "min"),
                max_value=("value", "max"),
            )
            .sort_values(["anomalies", "first"], ascending=[False, True])
            .head(n)
            .reset_index()
        )
        top.columns = pd.Index(columns)
        return top

    def sample(self, n: int = 5, *, seed: int = 0) -> pd.DataFrame:
        """`n` anomalies picked at random (the same ones for the same `seed`), by `ts`."""
        frame = self.anomalies
        if len(frame) <= n:
            return frame
        return frame.sample(n=n, random_state=seed).sort_values("ts")

    def fires_per_day(self) -> pd.Series:
        """Anomalies per UTC day of the range, days without any included (counted on the day
        of their `ts`, clamped into the range, as the summary counts them)."""
        return fires_per_day(self.anomalies, self.since, self.until)

    def timeline(self, *, labels: Any = None, title: str | None = None) -> Figure:
        """The anomalies over time per group, labelled incidents shaded (see `plots`)."""
        from eventpulse.workbench.plots import timeline

        return timeline(self.anomalies, labels=labels, title=title or self._title())

    def _title(self) -> str:
        return f"{self.rule_id}@{self.rule_version}: {len(self.anomalies)} anomalies"

    def __repr__(self) -> str:
        s = self.raw.summary
        return (
            f"BacktestResult({s.rule_id}@{s.rule_version}, {s.since:%Y-%m-%d}..{s.until:%Y-%m-%d}"
            f": {s.events_scanned} events, {s.anomalies} anomalies)"
        )

    def _repr_html_(self) -> str:
        summary = self.summary().to_frame("").to_html(header=False)
        shown = self.anomalies.drop(columns=["group", "details"]).head(10)
        more = len(self.anomalies) - len(shown)
        return (
            f"<div><strong>{html.escape(repr(self))}</strong>{summary}"
            f"{shown.to_html(index=False)}"
            + (f"<p>… and {more} more (<code>.anomalies</code>)</p>" if more > 0 else "")
            + "</div>"
        )


def fires_per_day(anomalies: pd.DataFrame, since: datetime, until: datetime) -> pd.Series:
    """Anomalies per UTC day of `[since, until)`, quiet days as 0 (`ts` clamped into it)."""
    first = since.astimezone(UTC).date()
    last = (until.astimezone(UTC) - timedelta(microseconds=1)).date()
    days = pd.date_range(first, last, freq="D", tz=UTC)
    if anomalies.empty:
        return pd.Series(0, index=days, name="anomalies", dtype="int64")
    low, high = pd.Timestamp(days[0]), pd.Timestamp(days[-1])
    day = anomalies["ts"].dt.floor("D").clip(lower=low, upper=high)
    counts: pd.Series = day.value_counts().reindex(days, fill_value=0).astype("int64")
    counts.name = "anomalies"
    return counts
