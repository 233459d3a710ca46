"""Reload under load: rules change while events stream in through three workers. Every change
is confirmed by every worker; each rule's versions evaluate consecutive, non-overlapping spans
of the arrival order that together cover every event; and each version's live anomalies are
exactly the engine's over the stored events of its span — no step ran a half-loaded set."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import httpx
import psycopg

from eventpulse.domain.engine import Evaluator
from eventpulse.domain.events import Event
from eventpulse.domain.rules import parse_rule
from tests.integration.conftest import Product
from tests.integration.live_support import wait_stored_and_evaluated
from tests.integration.test_hot_reload import reports, start, stored_revision
from tests.support import wait_until

RULES = "/api/v1/rules"
BASE = datetime(2024, 5, 1, tzinfo=UTC)
BATCHES, PER_BATCH = 40, 250


def busy_rule(limit: int) -> dict[str, Any]:
    return {
        "rule_id": "busy",
        "name": "Busy source",
        "type": "threshold",
        "agg": "count",
        "window": "1m",
        "op": "gt",
        "value": limit,
        "group_by": ["source"],
        "lateness": "10s",
    }


def high_rule(level: int) -> dict[str, Any]:
    return {
        "rule_id": "high",
        "name": "High value",
        "type": "match",
        "filter": {"field": "payload.value", "op": "gte", "value": level},
    }


def produce(api: str, done: threading.Event) -> None:
    with httpx.Client(base_url=api, timeout=30) as client:
        for batch in range(BATCHES):
            events = [
                {
                    "event_type": "reading",
                    "source": f"host-{n % 3}",
                    "timestamp": (BASE + timedelta(seconds=batch * PER_BATCH + n)).isoformat(),
                    "payload": {"value": (batch * 7 + n) % 100},
                }
                for n in range(PER_BATCH)
            ]
            assert client.post("/api/v1/events/batch", json=events).status_code == 202
    done.set()


STORED = """
SELECT event_id, event_type, source, ts, payload, received_at, arrival_ms, arrival_seq, arrival_idx
FROM events ORDER BY arrival_ms, arrival_seq, arrival_idx
"""
SPANS = """
SELECT rule_version, (started_ms, started_seq, started_idx), (ended_ms, ended_seq, ended_idx)
FROM rule_evaluations WHERE rule_id = %s ORDER BY rule_version
"""


def position(record: Any) -> tuple[int, int, int] | None:
    if record is None or record[0] is None:
        return None
    return (int(record[0]), int(record[1]), int(record[2]))


def test_rules_changed_while_events_stream_in(
    product: Product, db: psycopg.Connection[Any]
) -> None:
    api = start(product, ["w1", "w2", "w3"], rules_resync_s=0.5, evaluation_batch=300)
    documents: dict[tuple[str, int], dict[str, Any]] = {}
    latest = {"busy": 1, "high": 1}
    with httpx.Client(base_url=api, timeout=30) as client:
        for rule in (busy_rule(50), high_rule(95)):
            created = client.post(RULES, json=rule)
            assert created.status_code == 201, created.text
            documents[(rule["rule_id"], 1)] = rule

        done = threading.Event()
        producer = threading.Thread(target=produce, args=(api, done))
        producer.start()
        changes = 0
        while not done.is_set() and changes < 8:  # bounded: at most eight changes
            changes += 1
            rule = busy_rule(40 + changes) if changes % 2 else high_rule(90 + changes)
            response = client.put(f"{RULES}/{rule['rule_id']}", json=rule)
            assert response.status_code == 200, response.text  # confirmed by all three
            documents[(rule["rule_id"], response.json()["version"])] = rule
            latest[rule["rule_id"]] = response.json()["version"]
            versions = {r["versions"][rule["rule_id"]] for r in reports(product.settings).values()}
            assert versions == {response.json()["version"]}
        # One change nobody announces, mid-stream: the workers converge by resync.
        db.execute("UPDATE rules SET enabled = false WHERE rule_id = 'high'")
        revision = stored_revision(db)
        wait_until(
            lambda: {r["revision"] for r in reports(product.settings).values()} == {revision},
            timeout=15,
            what="every worker to resync",
        )
        producer.join(120)
    assert changes >= 2, "the changes overlapped the stream"
    wait_stored_and_evaluated(db, BATCHES * PER_BATCH)
    # The evaluating worker ends the disabled rule's span at its next step after the swap,
    # which may come after it evaluated the last event (when the stream ended first).
    wait_until(
        lambda: position(db.execute(SPANS, ("high",)).fetchall()[-1][2]) is not None,
        timeout=15,
        what="the disabled rule's span to end",
    )

    rows = db.execute(STORED).fetchall()
    stored = [((r[6], r[7], r[8]), Event(*r[:6], arrival=(r[6], r[7], r[8]))) for r in rows]
    for rule_id in ("busy", "high"):
        spans = [
            (version, position(start_), position(end))
            for version, start_, end in db.execute(SPANS, (rule_id,)).fetchall()
        ]
        # A version replaced before the evaluating worker's next step never runs: the recorded
        # versions ascend, the first starts before any event, and each starts where the one
        # before it ended.
        recorded = [v for v, _, _ in spans]
        assert recorded == sorted(set(recorded)) and recorded[-1] == latest[rule_id]
        assert spans[0][1] is not None and spans[0][1] < stored[0][0]
        for (_, _, ended), (_, started, _) in pairwise(spans):
            assert ended == started, "consecutive versions tile the arrival order"
        assert (spans[-1][2] is None) == (rule_id == "busy")  # "high" was disabled
        for version, started, ended in spans:
            assert started is not None
            events = [
                pair for pair in stored if pair[0] > started and (ended is None or pair[0] <= ended)
            ]
            document = {k: v for k, v in documents[(rule_id, version)].items() if k != "rule_id"}
            expected = Evaluator(rule_id, version, parse_rule(document)).feed(events)
            live = db.execute(
                "SELECT anomaly_id FROM anomalies WHERE rule_id = %s AND rule_version = %s",
                (rule_id, version),
            ).fetchall()
            assert sorted(r[0] for r in live) == sorted(a.anomaly_id for a in expected)
    assert db.execute("SELECT count(*) FROM anomalies").fetchone()[0] > 0
