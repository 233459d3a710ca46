"""`GET /api/v1/stats` against what was really ingested, stored, evaluated and delivered."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from eventpulse.application.event_codec import ENTRY_FIELD
from tests.integration.conftest import Product, post_batches
from tests.integration.live_support import evaluated_everything
from tests.integration.notify_support import statuses
from tests.integration.observability_support import console_config, mixed_events, stats
from tests.integration.payments import create_rule
from tests.support import wait_until

pytestmark = pytest.mark.integration


def settled(api: str) -> dict[str, Any] | None:
    """The stats once every stream entry is acknowledged (the poison one dead-lettered)."""
    body = stats(api, window="1h")
    events, feed = body["streams"]["events"], body["streams"]["anomalies"]
    done = (
        events["dead_letters"] == 1
        and events["groups"]["persisters"]["pending"] == 0
        and feed["groups"]["notifiers"]["pending"] == 0
    )
    return body if done else None


def test_stats_report_what_was_ingested_evaluated_and_delivered(
    product: Product, db: psycopg.Connection[Any], redis_client: redis.Redis, tmp_path: Path
) -> None:
    api = product.start_api()
    key = product.settings.stream_key
    early = post_batches(api, mixed_events(0, 20), size=10)  # no worker yet: they wait
    time.sleep(0.3)
    waiting = stats(api)
    assert waiting["streams"]["events"]["length"] == redis_client.xlen(key) == 2
    assert waiting["streams"]["events"]["groups"] == {}  # no worker has created its group
    assert waiting["ingest_lag_s"] >= 0.2
    assert waiting["workers"] == {"live": 0, "revisions": {}}
    assert waiting["events"]["total"] == 0

    product.start_worker("w1")
    product.start_notifier("n1", console_config(tmp_path))
    create_rule(api)
    late = post_batches(api, mixed_events(20, 80), size=20)
    redis_client.xadd(key, {ENTRY_FIELD: b"not json"})  # dead-lettered by the worker
    accepted = len(early) + len(late)
    wait_until(
        lambda: (
            db.execute("SELECT count(*) FROM events").fetchone()[0] == accepted
            and evaluated_everything(db)
        ),
        timeout=60,
        what="every event stored and evaluated",
    )
    anomalies = db.execute("SELECT count(*) FROM anomalies").fetchone()[0]
    assert anomalies > 0
    wait_until(lambda: len(statuses(db, "console", "sent")) == anomalies, what="deliveries")
    body = wait_until(lambda: settled(api), what="every entry acknowledged, one dead letter")
    by_source = stats(api, window="1h", by="source")

    failures = sum(1 for e in mixed_events(0, 100) if e["event_type"] == "payment_failed")
    assert body["events"]["counts"] == {"cpu": 100 - failures, "payment_failed": failures}
    assert body["events"]["total"] == accepted == 100
    assert body["events"]["rate_per_s"] == pytest.approx(100 / 3600)
    hosts = {"host-1": 0, "host-2": 0}
    for e in mixed_events(0, 100):
        if e["source"] in hosts:
            hosts[e["source"]] += 1
    assert by_source["events"]["counts"] == {**hosts, "shop": failures}
    persisters = body["streams"]["events"]["groups"]["persisters"]
    assert (persisters["consumers"], persisters["pending"], persisters["lag"]) == (1, 0, 0)
    assert persisters["oldest_age_s"] == body["ingest_lag_s"] == 0
    assert body["streams"]["events"]["dead_letters"] == 1
    assert body["anomalies"] == {
        "total": anomalies,
        "by_rule": {"payment-failed": {"critical": anomalies}},
        "by_severity": {"critical": anomalies},
    }
    assert body["notifications"] == {
        "total": anomalies,
        "by_channel": {"console": {"sent": anomalies}},
    }
    assert body["workers"]["live"] == 1 and list(body["workers"]["revisions"]) == ["w1"]
    assert body["evaluation"]["lag_events"] == 0 and body["evaluation"]["lag_capped"] is False
    time.sleep(1.1)
    assert stats(api, window="1s")["events"]["total"] == 0  # older than the window
