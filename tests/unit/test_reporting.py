"""The anomaly report's computations (`eventpulse.workbench.reporting`) on small frames made by
hand: per rule, per day, top groups, notification outcomes, changes against the previous
period, versions in the period, and the Markdown around them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pandas as pd
import pytest

from eventpulse.workbench import reporting as rp
from eventpulse.workbench.frames import anomalies_frame
from tests.unit.workbench.support import DAY0, anomaly

PERIOD = rp.Period.of("2024-01-01", "2024-01-04")  # three days from DAY0


def frame(*anomalies: Any) -> pd.DataFrame:
    return anomalies_frame(list(anomalies))


CURRENT = frame(
    anomaly(1, source="a", rule_id="cold", severity="critical"),
    anomaly(2, source="a", rule_id="cold", severity="critical"),
    anomaly(3, source="b", rule_id="cold", severity="warning"),
    anomaly(30, source="a", rule_id="hot"),
    anomaly(50, source=None, rule_id="spike", severity="info"),
)
EMPTY = frame()


def test_a_period_knows_its_length_days_and_the_period_before_it() -> None:
    assert PERIOD.length == pd.Timedelta(days=3)
    assert PERIOD.previous() == rp.Period.of("2023-12-29", "2024-01-01")
    assert PERIOD.label() == "2024-01-01 00:00 → 2024-01-04 00:00 UTC (3 days)"
    assert [f"{d:%m-%d}" for d in PERIOD.days()] == ["01-01", "01-02", "01-03"]
    partial = rp.Period.of("2024-01-01T12:00:00+02:00", "2024-01-02T06:00:00Z")
    assert partial.since == pd.Timestamp("2024-01-01 10:00", tz="UTC")
    assert [f"{d:%m-%d}" for d in partial.days()] == ["01-01", "01-02"]
    assert partial.label().endswith("(20 hours)")
    with pytest.raises(ValueError, match="must be after since"):
        rp.Period.of("2024-01-02", "2024-01-01")


def test_per_rule_counts_anomalies_severities_and_groups_busiest_first() -> None:
    table = rp.per_rule(CURRENT)

    assert table.index.tolist() == ["cold", "hot", "spike"]
    assert table["anomalies"].tolist() == [3, 1, 1]
    assert table["severity"].tolist() == ["critical, warning", "warning", "info"]
    assert table["groups"].tolist() == [2, 1, 1]
    assert table.loc["cold", "first"] == pd.Timestamp(DAY0 + timedelta(hours=1))
    assert table.loc["cold", "last"] == pd.Timestamp(DAY0 + timedelta(hours=3))
    assert rp.per_rule(EMPTY).empty


def test_per_day_has_every_day_of_the_period_and_one_column_per_rule() -> None:
    daily = rp.per_day(CURRENT, PERIOD)

    assert len(daily) == 3 and list(daily.columns) == ["cold", "hot", "spike"]
    assert daily.to_dict("list") == {"cold": [3, 0, 0], "hot": [0, 1, 0], "spike": [0, 0, 1]}
    busy = rp.busy_days(rp.per_day(CURRENT.iloc[:4], PERIOD))
    assert busy.index.tolist() == ["2024-01-01", "2024-01-02"]
    assert busy["total"].tolist() == [3, 1]
    assert rp.per_day(EMPTY, PERIOD).empty  # no rule columns: the report shows its note


def test_the_charts_have_one_trace_per_rule_or_severity() -> None:
    daily = rp.daily_chart(rp.per_day(CURRENT, PERIOD))
    severities = rp.severity_chart(CURRENT)

    assert [t.name for t in daily.data] == ["cold", "hot", "spike"]
    assert list(daily.data[0].y) == [3, 0, 0]
    assert daily.layout.barmode == "stack"
    assert sorted(t.name for t in severities.data) == ["critical", "info", "warning"]


def test_top_groups_ranks_rule_and_group_pairs() -> None:
    top = rp.top_groups(CURRENT, n=3)

    assert top[["rule_id", "group", "anomalies"]].values.tolist() == [
        ["cold", "source=a", 2],
        ["cold", "source=b", 1],
        ["hot", "source=a", 1],
    ]
    assert rp.top_groups(CURRENT)["group"].tolist()[-1] == "(all)"
    assert rp.top_groups(EMPTY).empty


def outcome(anomaly_id: str, channel: str, result: str, failed: int = 0) -> dict[str, Any]:
    return {
        "anomaly_id": anomaly_id,
        "rule_id": "cold",
        "channel": channel,
        "attempts": failed + (result != "pending"),
        "failed_attempts": failed,
        "outcome": result,
    }


def test_delivery_summary_counts_outcomes_per_channel() -> None:
    outcomes = pd.DataFrame(
        [
            outcome("a1", "slack", "sent"),
            outcome("a2", "slack", "sent", failed=2),
            outcome("a3", "slack", "dead", failed=4),
            outcome("a1", "mail", "pending", failed=1),
            outcome("a2", "mail", "silenced"),
        ]
    )

    summary = rp.delivery_summary(outcomes)

    assert summary.index.tolist() == ["mail", "slack"]
    assert summary.to_dict("index") == {
        "mail": {
            "anomalies": 2,
            "sent": 0,
            "dead": 0,
            "silenced": 1,
            "pending": 1,
            "failed_attempts": 1,
        },
        "slack": {
            "anomalies": 3,
            "sent": 2,
            "dead": 1,
            "silenced": 0,
            "pending": 0,
            "failed_attempts": 6,
        },
    }
    assert rp.delivery_summary(pd.DataFrame(columns=list(outcomes.columns))).empty


def test_changes_compare_each_rule_with_the_previous_period() -> None:
    previous = frame(
        anomaly(-10, rule_id="cold"),
        anomaly(-20, rule_id="hot"),
        anomaly(-21, rule_id="hot"),
        anomaly(-30, rule_id="gone"),
    )

    table = rp.changes(CURRENT, previous)

    assert table.index.tolist() == ["cold", "gone", "hot", "spike"]
    assert table[["now", "before", "delta", "change"]].values.tolist() == [
        [3, 1, 2, "more"],
        [0, 1, -1, "quiet"],
        [1, 2, -1, "fewer"],
        [1, 0, 1, "new"],
    ]
    assert rp.changes(EMPTY, EMPTY).empty
    assert rp.changes(CURRENT, EMPTY)["change"].tolist() == ["new", "new", "new"]
    summary = rp.changes_summary(table, pd.DataFrame(columns=rp.VERSION_COLUMNS))
    assert "**Newly firing** (silent in the previous period): `spike`" in summary
    assert "**Gone quiet** (fired in the previous period only): `gone`" in summary
    assert "**Rule versions created in this period:** 0" in summary
    assert "Newly firing** (silent in the previous period): none" in rp.changes_summary(
        rp.changes(EMPTY, EMPTY), pd.DataFrame(columns=rp.VERSION_COLUMNS)
    )


def test_versions_in_keeps_those_created_inside_the_period() -> None:
    versions = pd.DataFrame(
        {
            "rule_id": ["cold", "cold", "hot", "hot"],
            "version": [1, 2, 1, 2],
            "created_at": pd.to_datetime(
                ["2023-12-31 23:59", "2024-01-02 00:00", "2024-01-01 00:00", "2024-01-04 00:00"],
                utc=True,
            ),
            "note": [None, "colder", None, "later"],
            "enabled": [True, True, True, False],
            "document": [{}, {}, {}, {}],
        }
    )

    inside = rp.versions_in(PERIOD, versions)

    assert inside[["rule_id", "version"]].values.tolist() == [["hot", 1], ["cold", 2]]
    assert list(inside.columns) == rp.VERSION_COLUMNS
    assert rp.versions_in(PERIOD, pd.DataFrame(columns=rp.VERSION_COLUMNS)).empty


def data(anomalies: pd.DataFrame, previous: pd.DataFrame, rules: tuple[str, ...]) -> rp.ReportData:
    return rp.ReportData(
        PERIOD, rules, anomalies, previous, pd.DataFrame(), pd.DataFrame(columns=["rule_id"])
    )


def test_the_heading_says_what_the_report_covers_and_escapes_the_title() -> None:
    text = rp.heading("Weekly <b>ops</b>\nreport", data(CURRENT, EMPTY, ()))
    empty = rp.heading("Quiet", data(EMPTY, CURRENT, ("cold", "hot")))

    assert text.splitlines()[0] == "# Weekly &lt;b&gt;ops&lt;/b&gt; report"
    assert "**Period:** 2024-01-01 00:00 → 2024-01-04 00:00 UTC (3 days)" in text
    assert "**Rules:** all" in text
    assert "**Anomalies:** 5 (previous period: 0)" in text
    assert "**Rules:** `cold`, `hot`" in empty
    assert f"**{rp.NO_ANOMALIES}** (previous period: 5)" in empty


def test_span_names_whole_days_and_hours() -> None:
    assert rp.span(pd.Timedelta(days=1)) == "1 day"
    assert rp.span(pd.Timedelta(days=7)) == "7 days"
    assert rp.span(pd.Timedelta(hours=36)) == "36 hours"
    assert rp.span(pd.Timedelta(minutes=90)) == "0 days 01:30:00"


def test_tables_are_shown_with_short_utc_times_and_rows_numbered_from_one() -> None:
    shown = rp.for_display(rp.top_groups(CURRENT, n=2))
    by_rule = rp.for_display(rp.per_rule(CURRENT))

    assert shown.index.tolist() == [1, 2]
    assert shown["first"].tolist() == ["2024-01-01 01:00", "2024-01-01 03:00"]
    assert by_rule.index.tolist() == ["cold", "hot", "spike"]  # a meaningful index stays
    assert by_rule.loc["spike", "last"] == "2024-01-03 02:00"
