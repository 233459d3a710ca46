"""Backtest = live (invariant 6) on a NAB series: events go through the API and a worker, the
backtest endpoint replays the stored range, and its anomalies are those of an Evaluator fed the
same stored events in arrival order in this process — ids included — and they hit a labelled
failure window."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import yaml

from eventpulse.application.backtest import anomaly_document
from eventpulse.application.messages import render_anomaly
from eventpulse.domain.engine import Evaluator
from eventpulse.domain.events import Event
from eventpulse.domain.rules import parse_rule
from eventpulse.infrastructure.jinja_messages import JinjaMessageTemplates
from tests.integration.conftest import Product, post_batches
from tests.support import spawn, wait_until

DATA = Path(__file__).parents[2] / "data/nab"
RULES = Path(__file__).parents[2] / "data/rules"
SERIES = "realKnownCause/machine_temperature_system_failure.csv"
SOURCE = "machine_temperature_system_failure"
RULE: dict[str, Any] = {
    "rule_id": "machine-cold",
    "name": "Machine temperature drops",
    "type": "threshold",
    "severity": "critical",
    "filter": {"field": "source", "op": "eq", "value": SOURCE},
    "agg": "avg",
    "field": "payload.value",
    "window": "1h",
    "op": "lt",
    "value": 50,
    "group_by": ["source"],
    "cooldown": "6h",
    "lateness": "10m",
}
STORED_IN_ARRIVAL_ORDER = """
SELECT event_id, event_type, source, ts, payload, received_at,
       arrival_ms, arrival_seq, arrival_idx
FROM events ORDER BY arrival_ms, arrival_seq, arrival_idx, event_id
"""


def series_events() -> list[dict[str, Any]]:
    with (DATA / SERIES).open() as f:
        rows = list(csv.DictReader(f))
    return [
        {
            "event_type": "temperature",
            "source": SOURCE,
            "timestamp": row["timestamp"].replace(" ", "T") + "+00:00",
            "payload": {"value": float(row["value"])},
        }
        for row in rows
    ]


def labelled_windows() -> list[tuple[datetime, datetime]]:
    windows = json.loads((DATA / "labels/combined_windows.json").read_text())[SERIES]
    return [
        (
            datetime.fromisoformat(a).replace(tzinfo=UTC),
            datetime.fromisoformat(b).replace(tzinfo=UTC),
        )
        for a, b in windows
    ]


def test_the_backtest_of_a_stored_rule_is_the_engine_over_the_stored_events(
    product: Product, db: psycopg.Connection[Any]
) -> None:
    api = product.start_api()
    product.start_worker("w1")
    events = series_events()
    post_batches(api, events, size=2000)
    wait_until(
        lambda: db.execute("SELECT count(*) FROM events").fetchone()[0] == len(events),
        timeout=60,
        what="every event stored",
    )

    with httpx.Client(base_url=api, timeout=60) as client:
        created = client.post("/api/v1/rules", json=RULE)
        assert created.status_code == 201, created.text
        since = events[0]["timestamp"]
        until = (datetime.fromisoformat(events[-1]["timestamp"]) + timedelta(seconds=1)).isoformat()
        response = client.post(
            "/api/v1/rules/backtest",
            json={"rule_id": "machine-cold", "since": since, "until": until},
        )
    assert response.status_code == 200, response.text
    body = response.json()

    # The same stored events, in arrival order, through the engine in this process.
    rows = db.execute(STORED_IN_ARRIVAL_ORDER).fetchall()
    assert all(row[6] > 0 for row in rows), "the worker stores each event's arrival"
    stored = [(tuple(row[6:9]), Event(*row[:6], arrival=tuple(row[6:9]))) for row in rows]
    spec = parse_rule({k: v for k, v in RULE.items() if k != "rule_id"})
    evaluator = Evaluator("machine-cold", 1, spec)
    expected = evaluator.feed(stored)
    assert expected, "the rule finds something in this series"
    templates = JinjaMessageTemplates()
    rendered = [render_anomaly(a, templates, spec.name) for a in expected]
    documents = orjson.loads(orjson.dumps([anomaly_document(a) for a in rendered]))
    assert body["anomalies"] == documents

    summary = body["summary"]
    assert (summary["rule_id"], summary["rule_version"]) == ("machine-cold", 1)
    assert summary["events_scanned"] == len(events)
    assert summary["anomalies"] == len(expected)
    counters = evaluator.counters
    assert (summary["late_dropped"], summary["duplicates"], summary["replayed"]) == (
        counters.late_dropped,
        counters.duplicates,
        counters.replayed,
    )
    assert summary["suppressed"] == counters.suppressed
    assert summary["first_event_ts"] == since

    windows = labelled_windows()
    hits = [
        a
        for a in expected
        if any(start <= a.window_start <= end or start <= a.ts <= end for start, end in windows)
    ]
    assert hits, "at least one anomaly falls in a labelled failure window"


def test_the_cli_backtests_a_rule_file_prints_tables_or_json_and_exits_1_on_422(
    product: Product, db: psycopg.Connection[Any], tmp_path: Path
) -> None:
    api = product.start_api()
    product.start_worker("w1")
    events = series_events()[:3000]
    post_batches(api, events, size=1000)
    wait_until(
        lambda: db.execute("SELECT count(*) FROM events").fetchone()[0] == len(events),
        what="every event stored",
    )
    rule_file = RULES / "machine_temperature_drop.yaml"
    env = {**product.env, "EVENTPULSE_API_URL": api}
    since, until = "2013-12-01T00:00:00+00:00", "2014-03-01T00:00:00Z"

    def cli(name: str, *args: str) -> tuple[int, str]:
        log = tmp_path / f"{name}.log"
        process = spawn(["backtest", *args], env, log)
        return process.wait(60), log.read_text()

    status, out = cli("json", str(rule_file), "--since", since, "--until", until, "--json")
    assert status == 0, out
    answer = json.loads(out)
    document = yaml.safe_load(rule_file.read_text())
    spec = parse_rule({k: v for k, v in document.items() if k != "rule_id"})
    rows = db.execute(STORED_IN_ARRIVAL_ORDER).fetchall()
    stored = [(tuple(row[6:9]), Event(*row[:6], arrival=tuple(row[6:9]))) for row in rows]
    expected = Evaluator("machine-temperature-drop", 0, spec).feed(stored)
    assert expected, "the first 3,000 readings include the 2013-12-10 failure"
    assert [a["anomaly_id"] for a in answer["anomalies"]] == [a.anomaly_id for a in expected]
    assert answer["summary"]["events_scanned"] == len(events)

    status, out = cli("table", str(rule_file), "--since", since, "--until", until)
    assert status == 0, out
    assert "Backtest summary" in out
    assert "machine-temperature-drop@0" in out

    labels = str(DATA / "labels/combined_windows.json")
    scored_args = ["--labels", labels, "--series", SOURCE, "--json"]
    status, out = cli("labels", str(rule_file), "--since", since, "--until", until, *scored_args)
    assert status == 0, out
    scored = json.loads(out)["labels"]
    # The first 3,000 readings (to 2013-12-12) hold the first labelled failure of four.
    assert scored["windows"] == 4 and scored["windows_caught"] == 1
    assert scored["anomalies"] == len(expected) and scored["anomalies_in_windows"] >= 1

    status, out = cli("naive", str(rule_file), "--since", "2013-12-01T00:00:00", "--until", until)
    assert status == 1
    assert "HTTP 422" in out
    assert "since:" in out
