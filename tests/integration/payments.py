"""Failed payments on a running product: the match rule that makes an anomaly of each one (per
shop), creating it (alone or with the product's API and worker), and posting a failed payment
that the rule fires on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.integration.conftest import Product

PAYMENT_FAILED_RULE: dict[str, Any] = {
    "rule_id": "payment-failed",
    "name": "A payment failed",
    "type": "match",
    "severity": "critical",
    "filter": {"field": "event_type", "op": "eq", "value": "payment_failed"},
    "group_by": ["source"],
    "message": "payment failed on {{ group.source }}",
}
MARCH_1 = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)


def start_with_rule(product: Product, rule: dict[str, Any] = PAYMENT_FAILED_RULE) -> str:
    """The product's API and a worker (`w1`), `rule` created through the API; the API's URL."""
    api = product.start_api()
    product.start_worker("w1")
    create_rule(api, rule)
    return api


def create_rule(api_url: str, rule: dict[str, Any] = PAYMENT_FAILED_RULE) -> None:
    """`POST /api/v1/rules` with `rule`, which must be created."""
    response = httpx.post(f"{api_url}/api/v1/rules", json=rule, timeout=30)
    assert response.status_code == 201, response.text


def post_failed_payment(api_url: str, source: str, at: datetime = MARCH_1) -> None:
    """A failed payment from `source` at `at`, then a heartbeat a second later: rules run on
    event time, and the later event moves it past the payment."""
    failed = {
        "event_type": "payment_failed",
        "source": source,
        "timestamp": at.isoformat(),
        "payload": {"amount": 12.5},
    }
    later = {
        **failed,
        "event_type": "heartbeat",
        "timestamp": (at + timedelta(seconds=1)).isoformat(),
    }
    response = httpx.post(f"{api_url}/api/v1/events/batch", json=[failed, later], timeout=30)
    assert response.status_code == 202, response.text
