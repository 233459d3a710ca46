"""Live evaluation (invariants 5 and 6): what the worker stores as anomalies is what the
backtest of the same rule version over the stored events returns, ids included."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import psycopg

from tests.integration.conftest import Product, post_batches
from tests.integration.live_support import stored_anomaly_ids, wait_stored_and_evaluated
from tests.integration.test_backtest import RULE, series_events


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
