"""A notifier SIGKILLed in the middle of a burst loses nothing: after a restart (same name: its
own pending list; new name: claimed once idle) every anomaly has exactly one `sent` record per
channel, and what the receivers got twice is bounded by the sends in flight at the kill and
visible in the records (the repeat's records carry `details.delivery`)."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from tests.integration.conftest import Product
from tests.integration.notify_support import (
    SECRET,
    Behaviour,
    anomaly_doc,
    append_anomalies,
    deliveries,
    http_receiver,
    notifier_pending,
    statuses,
)
from tests.support import wait_until

pytestmark = pytest.mark.fault

TOTAL = 200
CONCURRENCY = 4
CONFIG = f"""
channels:
  left: {{type: webhook, url_env: LEFT_URL, secret_env: SECRET, concurrency: {CONCURRENCY}}}
  right: {{type: webhook, url_env: RIGHT_URL, secret_env: SECRET, concurrency: {CONCURRENCY}}}
routes:
  - channels: [left, right]
"""


def everything_sent(db: psycopg.Connection[Any]) -> bool:
    return all(len(statuses(db, channel, "sent")) == TOTAL for channel in ("left", "right"))


@pytest.mark.parametrize("replacement", ["same-name", "new-name"])
def test_a_notifier_killed_mid_burst_delivers_everything_once_restarted(
    product: Product,
    db: psycopg.Connection[Any],
    redis_client: redis.Redis,
    tmp_path: Path,
    replacement: str,
) -> None:
    config = tmp_path / "notifications.yaml"
    config.write_text(CONFIG)
    ids = [f"burst-{i:03d}" for i in range(TOTAL)]
    namespace = product.settings.namespace
    slow = Behaviour(delay_s=0.02)
    with http_receiver(left=slow, right=slow) as receiver:
        env = {"LEFT_URL": receiver.url("/left"), "RIGHT_URL": receiver.url("/right")}
        env["SECRET"] = SECRET
        victim = product.start_notifier("n1", config, env)
        append_anomalies(redis_client, namespace, [anomaly_doc(i) for i in ids])
        wait_until(
            lambda: len(receiver.requests("/left")) >= 40,
            interval=0.001,
            what="the notifier to be in the middle of the burst",
        )
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        sent_at_kill = len(statuses(db, "left", "sent"))
        assert 0 < sent_at_kill < TOTAL
        assert notifier_pending(redis_client, namespace) > 0

        product.start_notifier("n1" if replacement == "same-name" else "n2", config, env)
        wait_until(lambda: everything_sent(db), timeout=120, what="every anomaly sent")
        wait_until(
            lambda: notifier_pending(redis_client, namespace) == 0,
            what="every feed entry acknowledged",
        )
        received = {path: receiver.successes(f"/{path}") for path in ("left", "right")}

    for channel, requests in received.items():
        assert sorted(statuses(db, channel, "sent")) == ids  # exactly one success recorded each
        counts = Counter(r.headers["x-eventpulse-delivery"] for r in requests)
        assert sorted(counts) == ids  # every anomaly reached the receiver
        repeated = {anomaly_id for anomaly_id, n in counts.items() if n > 1}
        assert len(repeated) <= CONCURRENCY, repeated  # at most the sends in flight at the kill
        rows = [r for r in deliveries(db, channel) if r[0] in repeated]
        for anomaly_id in repeated:
            (sent,) = [r for r in rows if r[0] == anomaly_id and r[3] == "sent"]
            assert sent[5]["delivery"] >= 2  # recorded as re-delivered after the crash
    assert "re-reading" in product.log_text() or replacement == "new-name"


def test_a_digest_open_when_the_notifier_is_killed_is_sent_after_the_restart(
    product: Product, db: psycopg.Connection[Any], redis_client: redis.Redis, tmp_path: Path
) -> None:
    def config(window: str) -> Path:
        path = tmp_path / f"digest-{window}.yaml"
        path.write_text(
            "channels:\n  hook: {type: webhook, url_env: HOOK_URL, secret_env: SECRET}\n"
            f"routes:\n  - {{channels: [hook], digest: {window}}}\n"
        )
        return path

    namespace = product.settings.namespace
    with http_receiver() as receiver:
        env = {"HOOK_URL": receiver.url("/hook"), "SECRET": SECRET}
        victim = product.start_notifier("n1", config("1h"), env)
        append_anomalies(redis_client, namespace, [anomaly_doc(f"d{i}") for i in range(5)])
        wait_until(
            lambda: notifier_pending(redis_client, namespace) == 5,
            what="the notifier to hold the anomalies in its open digest",
        )
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        assert receiver.requests("/hook") == [] and deliveries(db) == []

        product.start_notifier("n1", config("1s"), env)
        wait_until(lambda: len(statuses(db, "hook", "digested")) == 5, what="the digest")
        wait_until(lambda: notifier_pending(redis_client, namespace) == 0, what="the acks")
        (request,) = receiver.requests("/hook")

    assert sorted(a["anomaly_id"] for a in request.json()["anomalies"]) == [
        f"d{i}" for i in range(5)
    ]
    assert all(row[5]["digest_id"] for row in deliveries(db, "hook"))
