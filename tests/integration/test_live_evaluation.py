"""Live evaluation (invariants 5 and 6): what the worker stores as anomalies is what the
backtest of the same rule version over the stored events returns, ids included."""

from __future__ import annotations

import os
import signal
from datetime import datetime, timedelta
from typing import Any

import httpx
import orjson
import psycopg
import redis

from tests.integration.conftest import Product, post_batches
from tests.integration.live_support import stored_anomaly_ids, wait_stored_and_evaluated
from tests.integration.test_backtest import RULE, series_events
from tests.support import wait_until


def backtest_ids(api: str, rule_id: str, events: list[dict[str, Any]]) -> list[str]:
    since = events[0]["timestamp"]
    until = (datetime.fromisoformat(events[-1]["timestamp"]) + timedelta(days=1)).isoformat()
    with httpx.Client(base_url=api, timeout=60) as client:
        response = client.post(
            "/api/v1/rules/backtest", json={"rule_id": rule_id, "since": since, "until": until}
        )
    assert response.status_code == 200, response.text
    return sorted(a["anomaly_id"] for a in response.json()["anomalies"])


def test_a_worker_stores_the_anomalies_the_backtest_finds(
    product: Product, db: psycopg.Connection[Any]
) -> None:
    api = product.start_api()
    product.start_worker("w1")
    with httpx.Client(base_url=api, timeout=30) as client:
        created = client.post("/api/v1/rules", json=RULE)
    assert created.status_code == 201, created.text
    events = series_events()

    post_batches(api, events, size=1000)
    wait_stored_and_evaluated(db, len(events))

    live = stored_anomaly_ids(db, "machine-cold")
    assert live, "the rule finds the labelled failures"
    assert live == backtest_ids(api, "machine-cold", events)


def feed_ids(redis_client: redis.Redis, namespace: str) -> list[str]:
    entries = redis_client.xrange(f"{namespace}:anomalies")
    return [orjson.loads(fields[b"a"])["anomaly_id"] for _, fields in entries]


def test_every_stored_anomaly_reaches_the_feed_once_in_storage_order(
    product: Product, db: psycopg.Connection[Any], redis_client: redis.Redis
) -> None:
    # Left by a worker that died between storing and publishing: published by the next one.
    db.execute(
        "INSERT INTO anomalies (anomaly_id, rule_id, rule_version, severity, group_key,"
        " window_start, window_end, ts) VALUES ('left-over', 'r', 1, 'info', '{}',"
        " now(), now(), now())"
    )
    api = product.start_api()
    product.start_worker("w1")
    with httpx.Client(base_url=api, timeout=30) as client:
        assert client.post("/api/v1/rules", json=RULE).status_code == 201
    events = series_events()[:4000]
    post_batches(api, events, size=1000)
    wait_stored_and_evaluated(db, len(events))

    in_order = [r[0] for r in db.execute("SELECT anomaly_id FROM anomalies ORDER BY seq")]
    wait_until(
        lambda: feed_ids(redis_client, product.settings.namespace) == in_order,
        what="the feed to hold every stored anomaly",
    )
    assert in_order[0] == "left-over" and len(in_order) > 1
    unpublished = db.execute("SELECT count(*) FROM anomalies WHERE published_at IS NULL")
    assert unpublished.fetchone()[0] == 0


def test_a_restarted_worker_carries_on_with_the_running_rule_versions(
    product: Product, db: psycopg.Connection[Any]
) -> None:
    api = product.start_api()
    first = product.start_worker("w1")
    with httpx.Client(base_url=api, timeout=30) as client:
        assert client.post("/api/v1/rules", json=RULE).status_code == 201
    events = series_events()
    half = len(events) // 2
    post_batches(api, events[:half], size=1000)
    wait_stored_and_evaluated(db, half)
    first.send_signal(signal.SIGTERM)
    assert first.wait(30) == 0

    product.start_worker("w2")
    post_batches(api, events[half:], size=1000)
    wait_stored_and_evaluated(db, len(events))

    spans = db.execute("SELECT rule_version, ended_ms FROM rule_evaluations").fetchall()
    assert spans == [(1, None)]  # one version, still running: the restart ended nothing
    live = stored_anomaly_ids(db, "machine-cold")
    assert live == backtest_ids(api, "machine-cold", events)


def test_an_evaluator_whose_worker_died_stops_by_itself(
    product: Product, db: psycopg.Connection[Any]
) -> None:
    worker = product.start_worker("w1")
    wait_until(
        lambda: db.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
            ("eventpulse-evaluation w1",),
        ).fetchone()[0],
        what="the evaluator process to connect",
    )

    worker.send_signal(signal.SIGKILL)  # the parent only: its evaluator child is orphaned
    worker.wait(10)

    def group_gone() -> bool:
        try:
            os.killpg(worker.pid, 0)
        except ProcessLookupError:
            return True
        return False

    wait_until(group_gone, timeout=15, what="the orphaned evaluator to exit")
