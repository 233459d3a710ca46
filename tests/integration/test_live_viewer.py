"""The live viewer on a running product: events posted to the API become anomalies in the
widget's state (the earlier ones by backfill, the later ones live), and after Redis drops the
viewer's connection it reconnects, backfills, and shows each anomaly once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
import redis

from eventpulse.workbench import Workbench
from eventpulse.workbench.live_source import CLIENT_NAME
from eventpulse.workbench.live_viewer import LiveViewer
from tests.integration.conftest import Product
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
}


class Shop:
    """Posts failed payments (each followed by a later heartbeat, which moves event time past
    it) and reads back the anomalies stored for them."""

    def __init__(self, api_url: str, db: psycopg.Connection[Any]) -> None:
        self._client = httpx.Client(base_url=api_url, timeout=30)
        self._db = db
        self._second = 0

    def fail(self, source: str) -> None:
        self._second += 2
        failed = {
            "event_type": "payment_failed",
            "source": source,
            "timestamp": f"2024-03-01T10:00:{self._second:02d}+00:00",
            "payload": {"amount": self._second},
        }
        later = {**failed, "event_type": "heartbeat", "timestamp": _later(self._second)}
        response = self._client.post("/api/v1/events/batch", json=[failed, later])
        assert response.status_code == 202, response.text

    def close(self) -> None:
        self._client.close()

    def stored(self) -> list[str]:
        rows = self._db.execute("SELECT anomaly_id FROM anomalies ORDER BY ts").fetchall()
        return [row[0] for row in rows]


def _later(second: int) -> str:
    return f"2024-03-01T10:00:{second + 1:02d}+00:00"


@pytest.fixture
def shop(product: Product, db: psycopg.Connection[Any]) -> Iterator[Shop]:
    api = product.start_api()
    product.start_worker("w1")
    assert httpx.post(f"{api}/api/v1/rules", json=RULE, timeout=30).status_code == 201
    shop = Shop(api, db)
    yield shop
    shop.close()


@pytest.fixture
def wb(product: Product) -> Iterator[Workbench]:
    with Workbench.connect(settings=product.settings) as workbench:
        yield workbench


def shown_ids(viewer: LiveViewer) -> list[str]:
    return sorted(viewer.anomalies()["anomaly_id"])


def wait_shown(viewer: LiveViewer, expected: list[str], what: str) -> None:
    wait_until(lambda: shown_ids(viewer) == sorted(expected), timeout=60, what=what)


def test_anomalies_from_the_api_appear_in_the_viewer(shop: Shop, wb: Workbench) -> None:
    shop.fail("shop-eu")
    before = wait_until(shop.stored, timeout=60, what="the first anomaly stored")

    viewer = wb.live_viewer(interval_s=0.05)
    try:
        wait_shown(viewer, before, "the backfilled anomaly in the viewer")
        shop.fail("shop-us")
        shop.fail("shop-asia")
        stored = wait_until(lambda: len(shop.stored()) == 3 and shop.stored(), what="3 stored")
        wait_shown(viewer, stored, "the live anomalies in the viewer")

        counters = viewer.counters()
        assert counters["shown"] == 3 and counters["dropped"] == 0
        assert counters["received"] == 3 + counters["duplicates"]
        assert "payment failed on shop-asia" in viewer.table.value
        assert viewer.state.connected
    finally:
        viewer.stop()
    assert not viewer.state.connected


def test_after_redis_drops_the_viewer_it_reconnects_and_backfills(
    shop: Shop, wb: Workbench, redis_client: redis.Redis
) -> None:
    viewer = wb.live_viewer(interval_s=0.05, severity="critical", rules=["payment-failed"])
    try:
        wait_until(lambda: viewer.state.connected, what="the viewer subscribed")
        shop.fail("shop-eu")
        first = wait_until(shop.stored, timeout=60, what="an anomaly stored")
        wait_shown(viewer, first, "the first anomaly")

        (viewer_client,) = [
            c for c in redis_client.client_list(_type="pubsub") if c["name"] == CLIENT_NAME
        ]
        assert redis_client.client_kill_filter(_id=viewer_client["id"]) == 1
        shop.fail("shop-us")  # published while the viewer may be away
        stored = wait_until(lambda: len(shop.stored()) == 2 and shop.stored(), what="2 stored")
        wait_shown(viewer, stored, "the anomaly published around the reconnect")
        wait_until(lambda: viewer.state.connected, what="the viewer live again")

        shop.fail("shop-asia")
        stored = wait_until(lambda: len(shop.stored()) == 3 and shop.stored(), what="3 stored")
        wait_shown(viewer, stored, "an anomaly after the reconnect")
        assert viewer.counters()["duplicates"] >= 1  # the second backfill repeated the first
    finally:
        viewer.stop()


def test_closing_the_workbench_stops_its_viewer(product: Product) -> None:
    with Workbench.connect(settings=product.settings) as workbench:
        replaced = workbench.live_viewer(interval_s=0.05)
        viewer = workbench.live_viewer(interval_s=0.05)  # the cell run again
        assert replaced.stopped and not viewer.stopped
        assert viewer.wait_live(timeout=30)
    assert viewer.stopped and not viewer.state.connected
