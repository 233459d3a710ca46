"""Every process logs one JSON object per line, with its role and the context it knows: the
request id in the API, the event id of an accepted event, the anomaly id and channel of a
delivery."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import pytest

from tests.integration.conftest import Product
from tests.integration.notify_support import statuses
from tests.integration.observability_support import console_config
from tests.integration.payments import create_rule
from tests.support import wait_until

pytestmark = pytest.mark.integration

FAILED = {"event_type": "payment_failed", "source": "shop", "timestamp": "2024-03-01T10:00:00Z"}
LATER = {"event_type": "cpu", "source": "host-1", "timestamp": "2024-03-01T10:00:01Z"}


def json_lines(path: Path) -> list[dict[str, Any]]:
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    documents = [orjson.loads(line) for line in lines]  # fails on any line that is not JSON
    for document in documents:
        assert {"ts", "level", "logger", "message", "role", "pid"} <= set(document), document
    return documents


def test_each_process_writes_json_lines_with_its_role_and_context(
    product: Product, db: psycopg.Connection[Any], tmp_path: Path
) -> None:
    product.settings = product.settings.model_copy(update={"log_level": "DEBUG"})
    api = product.start_api()
    product.start_worker("w1")
    product.start_notifier("n1", console_config(tmp_path))
    create_rule(api)
    response = httpx.post(f"{api}/api/v1/events", json=FAILED, headers={"X-Request-ID": "it-1"})
    assert response.status_code == 202
    assert response.headers["x-request-id"] == "it-1"
    event_id = response.json()["event_id"]
    assert httpx.post(f"{api}/api/v1/events", json=LATER).status_code == 202
    wait_until(lambda: statuses(db, "console", "sent"), timeout=60, what="the delivery")
    (anomaly_id,) = statuses(db, "console", "sent")
    product.stop_all()

    api_lines = json_lines(next(product.logs.glob("api-*.log")))
    worker_lines = json_lines(product.logs / "w1.log")
    notifier_lines = json_lines(product.logs / "n1.log")

    accepted = [
        (d["request_id"], d["event_id"]) for d in api_lines if d["message"] == "event accepted"
    ]
    assert accepted[0] == ("it-1", event_id)
    assert {d["role"] for d in api_lines} == {"api"}
    assert worker_lines and {d["role"] for d in worker_lines} == {"worker"}
    assert {d["role"] for d in notifier_lines} == {"notifier"}
    delivered = [d for d in notifier_lines if d.get("anomaly_id") == anomaly_id]
    assert delivered and {d["channel"] for d in delivered} == {"console"}
