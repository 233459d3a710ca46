"""What the anomaly report (`notebooks/reports/anomaly_report.ipynb`) computes: pure pandas
functions over the workbench's frames, and `load_report`, which reads what one report needs
through a `Workbench`. The notebook only lays the results out.

A report covers `since <= ts < until` (event time, UTC) and compares it with the period of the
same length just before `since`. Nothing here reads the clock: the same stored data and
parameters give the same report.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import pandas as pd
import plotly.graph_objects as go

from eventpulse.workbench.frames import group_label
from eventpulse.workbench.plots import SEVERITY_COLOURS
from eventpulse.workbench.times import Instant, instant

if TYPE_CHECKING:
    from eventpulse.workbench.session import Workbench

NO_ANOMALIES: Final = "No anomalies in this period."
NO_CHANGES: Final = "No anomalies in this period or in the previous one."
NO_DELIVERIES: Final = "No notification deliveries are recorded for the anomalies of this period."
NO_VERSIONS: Final = "No rule versions were created in this period."
OUTCOMES: Final = ("sent", "dead", "silenced", "pending")
VERSION_COLUMNS: Final = ["rule_id", "version", "created_at", "note", "enabled"]
DAY: Final = pd.Timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Period:
    """`since <= ts < until`, UTC."""

    since: pd.Timestamp
    until: pd.Timestamp

    @classmethod
    def of(cls, since: Instant, until: Instant) -> Period:
        start, end = pd.Timestamp(instant(since, "since")), pd.Timestamp(instant(until, "until"))
        if end <= start:
            raise ValueError(f"until ({end.isoformat()}) must be after since ({start.isoformat()})")
        return cls(start, end)

    @property
    def length(self) -> pd.Timedelta:
        return self.until - self.since

    def previous(self) -> Period:
        """The period of the same length just before this one."""
        return Period(self.since - self.length, self.since)

    def label(self) -> str:
        return (
            f"{self.since:%Y-%m-%d %H:%M} → {self.until:%Y-%m-%d %H:%M} UTC ({span(self.length)})"
        )

    def days(self) -> pd.DatetimeIndex:
        """The UTC days the period touches, each as its midnight."""
        last = (self.until - pd.Timedelta(microseconds=1)).floor("D")
        return pd.date_range(self.since.floor("D"), last, freq="D", name="day").as_unit("us")


@dataclass(frozen=True, slots=True)
class ReportData:
    """What one report shows: the anomalies of its period and of the previous one, what became
    of their notifications, and the rule versions created in the period."""

    period: Period
    rule_ids: tuple[str, ...]
    anomalies: pd.DataFrame
    previous: pd.DataFrame
    outcomes: pd.DataFrame
    versions: pd.DataFrame


def load_report(
    wb: Workbench, since: Instant, until: Instant, rule_ids: Sequence[str] = ()
) -> ReportData:
    """Read one report's data: `rule_ids` empty means every rule."""
    period = Period.of(since, until)
    wanted = tuple(dict.fromkeys(rule_ids))
    return ReportData(
        period=period,
        rule_ids=wanted,
        anomalies=_anomalies(wb, period, wanted),
        previous=_anomalies(wb, period.previous(), wanted),
        outcomes=wb.notification_outcomes(period.since, period.until, rule_id=list(wanted) or None),
        versions=versions_in(period, _versions(wb, wanted)),
    )


def _anomalies(wb: Workbench, period: Period, rule_ids: tuple[str, ...]) -> pd.DataFrame:
    if not rule_ids:
        return wb.anomalies(period.since, period.until)
    parts = [wb.anomalies(period.since, period.until, rule_id=r) for r in rule_ids]
    return pd.concat(parts, ignore_index=True).sort_values(["ts", "anomaly_id"], ignore_index=True)


def _versions(wb: Workbench, rule_ids: tuple[str, ...]) -> pd.DataFrame:
    known = [str(r) for r in wb.rules()["rule_id"]]
    parts = [wb.rule_versions(r).assign(rule_id=r) for r in known if not rule_ids or r in rule_ids]
    if not parts:
        return pd.DataFrame(columns=VERSION_COLUMNS)
    return pd.concat(parts, ignore_index=True)


# --- pure functions over frames --------------------------------------------------------------


def span(length: pd.Timedelta) -> str:
    """`90 days`, `1 day`, `6 hours`, or the timedelta itself."""
    for unit, name in ((DAY, "day"), (pd.Timedelta(hours=1), "hour")):
        count, rest = divmod(length, unit)
        if count and not rest:
            return f"{count} {name}{'' if count == 1 else 's'}"
    return str(length)


def group_labels(anomalies: pd.DataFrame) -> pd.Series:
    """Each anomaly's group as `source=machine-1`, or `(all)`."""
    return pd.Series(
        [group_label(g) for g in anomalies["group"]], index=anomalies.index, dtype=object
    )


def per_rule(anomalies: pd.DataFrame) -> pd.DataFrame:
    """Per rule: anomalies, severities, groups, first and last `ts`; the busiest rule first."""
    columns = ["anomalies", "severity", "groups", "first", "last"]
    if anomalies.empty:
        return pd.DataFrame(columns=columns, index=pd.Index([], name="rule_id"))
    frame = anomalies.assign(group_label=group_labels(anomalies))
    table = frame.groupby("rule_id").agg(
        anomalies=("anomaly_id", "size"),
        severity=("severity", lambda s: ", ".join(sorted(set(s)))),
        groups=("group_label", "nunique"),
        first=("ts", "min"),
        last=("ts", "max"),
    )
    table = table.reset_index().sort_values(["anomalies", "rule_id"], ascending=[False, True])
    return table.set_index("rule_id")[columns]


def per_day(anomalies: pd.DataFrame, period: Period) -> pd.DataFrame:
    """Anomalies per UTC day (every day of the period, zeros included) and rule (columns)."""
    days = period.days()
    if anomalies.empty:
        return pd.DataFrame(index=days, columns=pd.Index([], name="rule_id"), dtype="int64")
    counts = (
        anomalies.assign(day=anomalies["ts"].dt.floor("D").dt.as_unit("us"))
        .groupby(["day", "rule_id"])
        .size()
        .unstack("rule_id", fill_value=0)
    )
    return counts.reindex(days, fill_value=0).astype("int64")


def busy_days(daily: pd.DataFrame) -> pd.DataFrame:
    """The days of `per_day` with anomalies, as `YYYY-MM-DD`, with a total per day."""
    table = daily.assign(total=daily.sum(axis=1))
    table = table[table["total"] > 0]
    table.index = pd.Index([f"{d:%Y-%m-%d}" for d in table.index], name="day")
    return table


DAY_MS: Final = 86_400_000


def daily_chart(daily: pd.DataFrame, *, title: str = "Anomalies per day") -> go.Figure:
    """`per_day` as stacked bars, one colour per rule."""
    figure = go.Figure()
    for rule_id in daily.columns:
        figure.add_trace(go.Bar(x=daily.index, y=daily[rule_id], name=str(rule_id)))
    figure.update_layout(
        title=title, barmode="stack", yaxis_title="anomalies", legend_title="rule", height=380
    )
    figure.update_xaxes(type="date", title="day (UTC)", tickformat="%b %d\n%Y")
    if len(daily.index) <= 7:  # one tick per day (plotly would subdivide a single day to µs)
        figure.update_xaxes(dtick=DAY_MS, tick0=daily.index[0] if len(daily.index) else None)
    return figure


def severity_chart(anomalies: pd.DataFrame, *, title: str = "Anomalies per rule") -> go.Figure:
    """Anomalies per rule as horizontal bars stacked by severity."""
    counts = anomalies.groupby(["rule_id", "severity"]).size().unstack("severity", fill_value=0)
    figure = go.Figure()
    for severity in counts.columns:
        colour = SEVERITY_COLOURS.get(str(severity), "#7f7f7f")
        figure.add_trace(
            go.Bar(
                y=counts.index,
                x=counts[severity],
                name=str(severity),
                orientation="h",
                marker_color=colour,
            )
        )
    figure.update_layout(
        title=title,
        barmode="stack",
        xaxis_title="anomalies",
        legend_title="severity",
        yaxis={"type": "category", "automargin": True},
        height=max(260, 140 + 36 * len(counts)),
    )
    return figure


def top_groups(anomalies: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The `n` (rule, group) pairs with the most anomalies: counts, first and last `ts`."""
    columns = ["rule_id", "group", "anomalies", "first", "last"]
    if anomalies.empty:
        return pd.DataFrame(columns=columns)
    frame = anomalies.assign(group=group_labels(anomalies))
    table = (
        frame.groupby(["rule_id", "group"])
        .agg(anomalies=("anomaly_id", "size"), first=("ts", "min"), last=("ts", "max"))
        .reset_index()
        .sort_values(["anomalies", "rule_id", "group"], ascending=[False, True, True])
    )
    return table.head(n).reset_index(drop=True)[columns]


def delivery_summary(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Per channel (rows of `Workbench.notification_outcomes`): the anomalies it was to get,
    how many of them were sent, dead, silenced or still pending, and the failed attempts."""
    columns = ["anomalies", *OUTCOMES, "failed_attempts"]
    if outcomes.empty:
        return pd.DataFrame(columns=columns, index=pd.Index([], name="channel"))
    counts = (
        outcomes.groupby(["channel", "outcome"])
        .size()
        .unstack("outcome", fill_value=0)
        .reindex(columns=list(OUTCOMES), fill_value=0)
    )
    by_channel = outcomes.groupby("channel")
    counts.insert(0, "anomalies", by_channel["anomaly_id"].nunique())
    counts["failed_attempts"] = by_channel["failed_attempts"].sum()
    counts.columns.name = None
    return counts[columns].astype("int64")


def changes(current: pd.DataFrame, previous: pd.DataFrame) -> pd.DataFrame:
    """Per rule that fired in either period: anomalies now and before, the delta, and the
    change: `new` (newly firing), `quiet` (gone quiet), `more`, `fewer` or `same`."""
    now = current.groupby("rule_id").size()
    before = previous.groupby("rule_id").size()
    rules = sorted(set(now.index) | set(before.index))
    table = pd.DataFrame(
        {
            "now": now.reindex(rules, fill_value=0).astype("int64"),
            "before": before.reindex(rules, fill_value=0).astype("int64"),
        },
        index=pd.Index(rules, name="rule_id", dtype=object),
    )
    table["delta"] = table["now"] - table["before"]
    table["change"] = [_change(n, b) for n, b in zip(table["now"], table["before"], strict=True)]
    return table


def _change(now: int, before: int) -> str:
    if before == 0:
        return "new"
    if now == 0:
        return "quiet"
    return "more" if now > before else "fewer" if now < before else "same"


def versions_in(period: Period, versions: pd.DataFrame) -> pd.DataFrame:
    """The rule versions (`rule_id`, `version`, `created_at`, ...) created in the period."""
    if versions.empty:
        return pd.DataFrame(columns=VERSION_COLUMNS)
    created = pd.to_datetime(versions["created_at"], utc=True)
    inside = versions[(created >= period.since) & (created < period.until)]
    ordered = inside.sort_values(["created_at", "rule_id", "version"], ignore_index=True)
    return ordered[VERSION_COLUMNS]


def heading(title: str, data: ReportData) -> str:
    """The report's title and what it covers, as Markdown."""
    rules = ", ".join(f"`{r}`" for r in data.rule_ids) or "all"
    count, before = len(data.anomalies), len(data.previous)
    found = (
        f"**Anomalies:** {count:,} (previous period: {before:,})"
        if count
        else f"**{NO_ANOMALIES}** (previous period: {before:,})"
    )
    return "\n".join(
        [
            f"# {_text(title)}",
            "",
            f"**Period:** {data.period.label()}  ",
            f"**Rules:** {rules}  ",
            found,
        ]
    )


def changes_summary(table: pd.DataFrame, versions: pd.DataFrame) -> str:
    """The rules newly firing and gone quiet (from `changes`) and the versions created, as
    Markdown."""

    def listed(kind: str) -> str:
        rules = [f"`{r}`" for r in table.index[table["change"] == kind]]
        return ", ".join(rules) or "none"

    return "\n".join(
        [
            f"- **Newly firing** (silent in the previous period): {listed('new')}",
            f"- **Gone quiet** (fired in the previous period only): {listed('quiet')}",
            f"- **Rule versions created in this period:** {len(versions)}",
        ]
    )


def show(
    frame: pd.DataFrame, *views: Callable[[pd.DataFrame], Any], empty: str = NO_ANOMALIES
) -> None:
    """Display each `view(frame)` (or the frame itself) in a report cell, tables `for_display`,
    or, when the frame is empty, the `empty` note."""
    from IPython.display import Markdown, display

    shown: list[Any]
    if frame.empty:
        shown = [Markdown(f"*{_text(empty)}*")]  # type: ignore[no-untyped-call]
    else:
        shown = [view(frame) for view in views] or [frame]
        shown = [for_display(s) if isinstance(s, pd.DataFrame) else s for s in shown]
    display(*shown)  # type: ignore[no-untyped-call]


def for_display(frame: pd.DataFrame) -> pd.DataFrame:
    """A table as a report shows it: times (all UTC) as `YYYY-MM-DD HH:MM`, rows numbered
    from 1 rather than 0."""
    shown = frame.copy()
    for name in shown.columns:
        if isinstance(shown[name].dtype, pd.DatetimeTZDtype):
            shown[name] = shown[name].dt.strftime("%Y-%m-%d %H:%M")
    if isinstance(shown.index, pd.RangeIndex) and shown.index.start == 0:
        shown.index = pd.RangeIndex(1, len(shown) + 1)
    return shown


def _text(value: str) -> str:
    """Plain text for Markdown: one line, no raw HTML."""
    return html.escape(" ".join(str(value).split()), quote=False)
