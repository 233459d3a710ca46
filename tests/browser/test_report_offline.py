"""A rendered anomaly report works offline: opened from a file in headless Chromium with every
network request blocked, each of its plotly charts draws, nothing is requested from a network
and no script fails.

The report runs on a database of its own holding a week of hand-made anomalies (two rules),
the week before it (one rule that went quiet since), delivery records and a rule version
created in the week, so every section of the report has something to show.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg.types.json import Jsonb

from eventpulse.application.reports import ReportRequest, RunStatus
from eventpulse.infrastructure.settings import Settings
from eventpulse.interfaces.lab import register_kernel
from tests.browser.charts import drawn_charts
from tests.browser.conftest import OfflineContext
from tests.conftest import settings_env
from tests.report_support import Page, external_references, plotly_outputs, run_report

WEEK = datetime(2024, 3, 4, tzinfo=UTC)
DISK_RULE = {
    "name": "Disk almost full",
    "severity": "critical",
    "type": "threshold",
    "filter": {"field": "event_type", "op": "eq", "value": "disk"},
    "group_by": ["source"],
    "agg": "max",
    "field": "payload.used",
    "window": "5m",
    "op": "gt",
    "value": 0.95,
}


def at(days: float) -> datetime:
    return WEEK + timedelta(days=days)


# (rule_id, severity, group, days after WEEK); negative: the week before.
ANOMALIES = [
    ("disk-full", "critical", {"source": "db-1"}, 0.2),
    ("disk-full", "critical", {"source": "db-1"}, 1.1),
    ("disk-full", "critical", {"source": "db-1"}, 1.5),
    ("disk-full", "critical", {"source": "db-2"}, 3.0),
    ("latency-spike", "warning", {}, 2.4),
    ("latency-spike", "warning", {}, 5.9),
    ("latency-spike", "warning", {}, -3.0),
    ("login-burst", "info", {"source": "web"}, -2.0),
]


@pytest.fixture
def report_database(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The test's database with the anomalies above; its settings exported for the kernel."""
    with psycopg.connect(settings.database_url or "", autocommit=True) as db:
        for n, (rule_id, severity, group, days) in enumerate(ANOMALIES):
            ts = at(days)
            db.execute(
                "INSERT INTO anomalies (anomaly_id, rule_id, rule_version, severity, group_key,"
                " window_start, window_end, ts, value, message)"
                " VALUES (%s, %s, 1, %s, %s, %s, %s, %s, %s, %s)",
                (
                    f"a{n}",
                    rule_id,
                    severity,
                    Jsonb(group),
                    ts - timedelta(minutes=5),
                    ts,
                    ts,
                    n,
                    f"{rule_id} fired",
                ),
            )
        db.execute(
            "INSERT INTO rules (rule_id, version, created_at, updated_at)"
            " VALUES ('disk-full', 2, %s, %s)",
            (at(-30), at(2)),
        )
        for version, created in ((1, at(-30)), (2, at(2))):
            db.execute(
                "INSERT INTO rule_versions (rule_id, version, document, note, created_at)"
                " VALUES ('disk-full', %s, %s, %s, %s)",
                (version, Jsonb(DISK_RULE), f"version {version}", created),
            )
        for anomaly_id, channel, attempt, status in (
            ("a0", "oncall-slack", 1, "sent"),
            ("a1", "oncall-slack", 1, "failed"),
            ("a1", "oncall-slack", 2, "dead"),
        ):
            db.execute(
                "INSERT INTO notification_deliveries (anomaly_id, channel, route, attempt,"
                " status) VALUES (%s, %s, 'critical', %s, %s)",
                (anomaly_id, channel, attempt, status),
            )
    for name in [n for n in os.environ if n.startswith("EVENTPULSE_")]:
        monkeypatch.delenv(name)
    for name, value in settings_env(settings).items():
        monkeypatch.setenv(name, value)
    register_kernel()
    yield settings


def test_the_report_draws_every_chart_without_the_network(
    report_database: Settings, offline: OfflineContext, tmp_path: Path
) -> None:
    run = run_report(tmp_path, ReportRequest(WEEK, at(7), title="Week 10"))
    assert (run.status, run.error) == (RunStatus.OK, None), run.error
    assert run.html is not None
    html = run.html.read_text()
    assert external_references(html) == []
    text = Page(html).text
    assert "Anomalies: 6 (previous period: 2)" in text
    assert "Newly firing (silent in the previous period): disk-full" in text
    assert "Gone quiet (fired in the previous period only): login-burst" in text
    assert "oncall-slack 2 1 1 0 0 1" in text  # anomalies, sent, dead, silenced, pending, failed
    assert "version 2" in text  # the rule version created in the week

    page = offline.new_page()
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(run.html.as_uri())
    drawn = drawn_charts(page)
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)

    assert drawn == {
        "charts": plotly_outputs(run.notebook),
        "withTraces": plotly_outputs(run.notebook),
        "plotly": "object",
        "requirejs": "undefined",
    }
    assert drawn["charts"] == 3  # per rule, per day, timeline
    assert offline.blocked == []
    assert [u for u in offline.requests if not u.startswith(("file:", "data:"))] == []
    assert offline.page_errors == []
    assert offline.console_errors == []
    assert (tmp_path / "report.png").stat().st_size > 10_000
