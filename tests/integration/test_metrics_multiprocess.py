"""`GET /metrics` sums what every process counted: API, two workers (one of them stopped by
the end) and the notifier, each in its own process, sharing the multiprocess directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from tests.integration.conftest import Product, post_batches
from tests.integration.live_support import evaluated_everything
from tests.integration.notify_support import statuses
from tests.integration.observability_support import (
    console_config,
    metric_values,
    mixed_events,
    stats,
)
from tests.integration.payments import create_rule
from tests.support import stop, wait_until

pytestmark = pytest.mark.integration

PERSISTED = "eventpulse_worker_events_persisted_total"


def stored(db: psycopg.Connection[Any]) -> int:
    return int(db.execute("SELECT count(*) FROM events").fetchone()[0])


def persisted_by_pid(metrics_dir: Path) -> dict[int, float]:
    """Each process's own count of stored events, read from its own file."""
    counts: dict[int, float] = {}
    for path in metrics_dir.glob("counter_*.db"):
        pid = int(path.stem.split("_")[-1])
        for metric in MultiProcessCollector.merge([str(path)]):  # type: ignore[no-untyped-call]
            for sample in metric.samples:
                if sample.name == PERSISTED:
                    counts[pid] = counts.get(pid, 0) + sample.value
    return counts


def test_metrics_add_up_what_each_process_counted(
    product: Product, db: psycopg.Connection[Any], tmp_path: Path
) -> None:
    api = product.start_api()
    first = product.start_worker("w1")
    product.start_notifier("n1", console_config(tmp_path))
    create_rule(api)

    post_batches(api, mixed_events(0, 200), size=50)  # w1 alone
    wait_until(lambda: stored(db) == 200, what="the first 200 events")
    second = product.start_worker("w2")
    wait_until(lambda: stats(api)["workers"]["live"] == 2, what="w2's heartbeat")
    post_batches(api, mixed_events(200, 300), size=50)  # both workers
    wait_until(lambda: stored(db) == 500, what="the next 300 events")
    stop(first)
    post_batches(api, mixed_events(500, 100), size=50)  # w2 alone
    wait_until(lambda: stored(db) == 600 and evaluated_everything(db), what="every event")
    anomalies = int(db.execute("SELECT count(*) FROM anomalies").fetchone()[0])
    wait_until(lambda: len(statuses(db, "console", "sent")) == anomalies, what="deliveries")

    values = metric_values(api)

    assert values[(PERSISTED, ())] == 600  # w1's count stays after it stopped
    batch_posts = (("method", "POST"), ("route", "/api/v1/events/batch"), ("status", "202"))
    assert values[("eventpulse_http_requests_total", batch_posts)] == 12
    posts = batch_posts[:2]
    assert values[("eventpulse_http_request_duration_seconds_count", posts)] == 12
    assert values[("eventpulse_evaluation_events_total", ())] == 600
    assert values[("eventpulse_anomalies_stored_total", ())] == anomalies > 0
    evaluated = ("eventpulse_rule_evaluation_seconds_total", (("rule_id", "payment-failed"),))
    assert values[evaluated] > 0
    sent = (("channel", "console"), ("outcome", "sent"))
    assert values[("eventpulse_notifier_deliveries_total", sent)] == anomalies
    assert values[("eventpulse_worker_insert_duration_seconds_count", ())] >= 2
    assert values[("eventpulse_evaluation_lag_seconds", ())] == 0

    by_pid = persisted_by_pid(product.settings.home.resolve() / "metrics")
    assert sum(by_pid.values()) == 600
    assert by_pid[first.pid] >= 200 and by_pid[second.pid] >= 100
