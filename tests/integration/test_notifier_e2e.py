"""End to end: an event posted to the API matches a live rule in the worker, the anomaly is
stored and fed, and the notifier delivers it — routed by the rule's tags — to a webhook that
verifies the signature."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.integration.conftest import Product
from tests.integration.notify_support import SECRET, http_receiver, statuses
from tests.integration.payments import PAYMENT_FAILED_RULE, post_failed_payment, start_with_rule
from tests.support import wait_until

pytestmark = pytest.mark.integration

RULE = {**PAYMENT_FAILED_RULE, "tags": ["payments", "audit"]}
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
    api = start_with_rule(product, RULE)
    with http_receiver() as receiver:
        env = {"AUDIT_URL": receiver.url("/audit"), "AUDIT_SECRET": SECRET}
        product.start_notifier("n1", config, env)
        post_failed_payment(api, "shop-eu")
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
