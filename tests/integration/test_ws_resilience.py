"""`WS /api/v1/ws/anomalies` when things go wrong: a client that reads nothing is closed as too
slow while another keeps receiving everything; a Redis outage closes clients with 1013, and
they resume with `since` once Redis is back, missing nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from websockets.exceptions import ConnectionClosed

from eventpulse.infrastructure.embedded import EmbeddedRedis
from eventpulse.infrastructure.redis_anomaly_feed import RedisAnomalyFeed
from tests.integration.conftest import Product
from tests.integration.ws_support import anomalies, anomaly, closing, heartbeat, watching
from tests.support import wait_until

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("queue_size", "send_timeout_s", "reason"),
    [
        pytest.param(20, 60, "client too slow: more than 20 messages queued", id="queue-full"),
        pytest.param(10**6, 2, "client too slow: a send stalled for 2s", id="send-stalled"),
    ],
)
def test_a_client_that_reads_nothing_is_closed_as_too_slow_while_another_gets_everything(
    product: Product,
    redis_client: redis.Redis,
    namespace: str,
    queue_size: int,
    send_timeout_s: float,
    reason: str,
) -> None:
    feed = RedisAnomalyFeed(redis_client, namespace)
    api_url = product.start_api(
        ws_queue_size=queue_size, ws_heartbeat_s=0.5, ws_send_timeout_s=send_timeout_s
    )
    published: list[str] = []
    with (
        watching(api_url) as fast,
        watching(api_url, receive_buffer=4096) as slow,
    ):
        heartbeat(fast)
        heartbeat(slow)  # subscribed; from now on it reads nothing

        def slow_one_closed() -> bool:
            # Batches small enough for a reading client's queue; the slow one's only grows.
            batch = [anomaly(len(published) + i, pad=4000) for i in range(10)]
            feed.publish(batch)
            published.extend(a["anomaly_id"] for a in batch)
            assert [m["anomaly"]["anomaly_id"] for m in anomalies(fast, 10)] == published[-10:]
            return "client too slow" in product.log_text()

        wait_until(slow_one_closed, timeout=90, interval=0, what="the slow client to be closed")
        feed.publish([anomaly(10**5)])
        after = anomalies(fast, 1)
        code, said, read_late = closing(slow, timeout=30)

    assert after[0]["anomaly"]["anomaly_id"] == "a100000"  # the fast one still receives
    assert (code, said) == (4408, reason)
    assert 0 < len([m for m in read_late if "anomaly" in m]) < len(published)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A Redis of this test's own, which it may stop and start again (same socket, AOF on)."""
    server = EmbeddedRedis(tmp_path / "own-redis")
    server.start()
    yield server
    server.stop()


def test_a_redis_outage_closes_clients_with_1013_and_since_resumes_without_loss(
    product: Product, own_redis: EmbeddedRedis, namespace: str
) -> None:
    api_url = product.start_api(redis_url=own_redis.url, ws_heartbeat_s=0.2)
    with redis.Redis.from_url(own_redis.url) as client:
        feed = RedisAnomalyFeed(client, namespace)
        with watching(api_url) as ws:
            heartbeat(ws)
            feed.publish([anomaly(1), anomaly(2)])
            last = anomalies(ws, 2)[-1]["cursor"]
            own_redis.stop()
            code, reason, _ = closing(ws, timeout=30)

    assert code == 1013
    assert reason.startswith("anomaly feed unavailable")

    own_redis.start()
    with redis.Redis.from_url(own_redis.url) as client:
        feed = RedisAnomalyFeed(client, namespace)
        feed.publish([anomaly(3)])  # while no client is connected

        def resumed() -> list[str] | None:
            try:
                with watching(api_url, since=last) as ws:
                    first = anomalies(ws, 1, timeout=10)
                    feed.publish([anomaly(4)])
                    return [m["anomaly"]["anomaly_id"] for m in first + anomalies(ws, 1)]
            except ConnectionClosed as closed:  # refused until the API has resubscribed
                assert closed.rcvd is not None and closed.rcvd.code == 1013, closed
                return None

        received = wait_until(resumed, timeout=30, interval=0.2, what="the feed to be served")

    assert received == ["a000003", "a000004"]
