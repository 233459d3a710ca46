"""End to end: an event posted to the API matches a live rule in the worker, the anomaly is
stored and fed, and the notifier delivers it — routed by the rule's tags — to a webhook that
verifies the signature."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.integration.conftest import Product
from tests.integration.notify_support import SECRET, http_receiver, statuses
from tests.support import wait_until

pytestmark = pytest.mark.integration

RULE = {
    "rule_id": "payment-failed",
    "name": "A payment failed",
    "type": "match",
    "severity": "critical",
    "filter": {"field": "event_type", "op": "eq", "value": "payment_failed"},
    "group_by": ["source"],
    "message": "payment failed on {{ group.source }}",
    "tags": ["payments", "audit"],
}
CONFIG = """
channels:
  audit: {type: webhook, url_env: AUDIT_URL, secret_env: AUDIT_SECRET}
routes:
  - match: {tags: [audit]}
    channels: [audit]
"""


def test_an_event_through_the_api_ends_as_a_signed_webhook_delivery(
    product: Product, db: psycopg.Connection[Any], tmp_path: Path
) -> None:
    config = tmp_path / "notifications.yaml"
    config.write_text(CONFIG)
    api = product.start_api()
    product.start_worker("w1")
    with http_receiver() as receiver:
        env = {"AUDIT_URL": receiver.url("/audit"), "AUDIT_SECRET": SECRET}
        product.start_notifier("n1", config, env)
        with httpx.Client(base_url=api, timeout=30) as client:
            assert client.post("/api/v1/rules", json=RULE).status_code == 201
            failed = {
                "event_type": "payment_failed",
                "source": "shop-eu",
                "timestamp": "2024-03-01T10:00:00+00:00",
                "payload": {"n": 1},
            }
            # Rules run on event time: a later event moves the watermark past the first.
            later = {**failed, "event_type": "heartbeat", "timestamp": "2024-03-01T10:00:01+00:00"}
            response = client.post("/api/v1/events/batch", json=[failed, later])
            assert response.status_code == 202, response.text
        wait_until(lambda: receiver.successes("/audit"), timeout=60, what="the webhook call")
        wait_until(lambda: statuses(db, "audit", "sent"), what="the delivery record")
        (request,) = receiver.requests("/audit")

    (stored,) = db.execute("SELECT anomaly_id FROM anomalies").fetchall()
    body = request.json()
    assert request.signed_correctly
    assert body["anomaly_id"] == stored[0] == request.headers["x-eventpulse-delivery"]
    assert body["rule_id"] == "payment-failed" and body["severity"] == "critical"
    assert body["group"] == {"source": "shop-eu"}
    assert body["message"] == "payment failed on shop-eu"
    assert statuses(db, "audit", "sent") == [stored[0]]
