"""The live viewer on a running product: events posted to the API become anomalies in the
widget's state (the earlier ones by backfill, the later ones live), and after Redis drops the
viewer's connection it reconnects, backfills, and shows each anomaly once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
import redis

from eventpulse.workbench import Workbench
from eventpulse.workbench.live_source import CLIENT_NAME
from eventpulse.workbench.live_viewer import LiveViewer
from tests.integration.conftest import Product
from tests.integration.payments import MARCH_1, post_failed_payment, start_with_rule
from tests.support import wait_until

pytestmark = pytest.mark.integration


class Shop:
    """Posts failed payments (two seconds apart) and reads back the anomalies stored for them."""

    def __init__(self, api_url: str, db: psycopg.Connection[Any]) -> None:
        self._api_url = api_url
        self._db = db
        self._second = 0

    def fail(self, source: str) -> None:
        self._second += 2
        post_failed_payment(self._api_url, source, MARCH_1 + timedelta(seconds=self._second))

    def stored(self) -> list[str]:
        rows = self._db.execute("SELECT anomaly_id FROM anomalies ORDER BY ts").fetchall()
        return [row[0] for row in rows]


@pytest.fixture
def shop(product: Product, db: psycopg.Connection[Any]) -> Shop:
    return Shop(start_with_rule(product), db)


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
