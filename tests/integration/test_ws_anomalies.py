"""`WS /api/v1/ws/anomalies` on a real API process and Redis, the feed appended to by the test
with `RedisAnomalyFeed.publish` (as the evaluating worker does): filters, resuming with
`since` (no gap, no repeat, during a concurrent append), gaps, heartbeats and refusals."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import redis

from eventpulse.infrastructure.redis_anomaly_feed import RedisAnomalyFeed, feed_key
from tests.integration.conftest import Product
from tests.integration.ws_support import (
    anomalies,
    anomaly,
    closing,
    heartbeat,
    receive,
    watching,
)

pytestmark = pytest.mark.integration

APPENDED_MOST = 20_000


@pytest.fixture
def feed(redis_client: redis.Redis, namespace: str) -> RedisAnomalyFeed:
    return RedisAnomalyFeed(redis_client, namespace)


@pytest.fixture
def api_url(product: Product) -> Iterator[str]:
    # A live queue that holds all an `Appender` may append: here the client is never "too
    # slow" (test_ws_resilience.py covers that), however busy the machine is.
    yield product.start_api(ws_heartbeat_s=0.2, ws_queue_size=APPENDED_MOST + 1000)


def ids(messages: list[dict[str, Any]]) -> list[str]:
    return [m["anomaly"]["anomaly_id"] for m in messages]


def cursor_key(cursor: str) -> tuple[int, int]:
    ms, seq = cursor.split("-")
    return int(ms), int(seq)


def test_live_anomalies_arrive_with_the_filters_applied(
    api_url: str, feed: RedisAnomalyFeed
) -> None:
    with watching(api_url, severity="critical,warning", rule_id="checkout") as ws:
        heartbeat(ws)
        cursors = feed.publish(
            [
                anomaly(1, severity="info"),
                anomaly(2, severity="critical"),
                anomaly(3, rule_id="payments"),
                anomaly(4, severity="warning"),
            ]
        )
        received = anomalies(ws, 2)

    assert ids(received) == ["a000002", "a000004"]
    assert [m["cursor"] for m in received] == [cursors[1], cursors[3]]
    assert received[0]["anomaly"] == anomaly(2, severity="critical")


class Appender:
    """Appends anomalies `first`, `first + 1`, ... two at a time on a thread until stopped."""

    def __init__(self, feed: RedisAnomalyFeed, first: int, most: int = APPENDED_MOST) -> None:
        self.appended: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(feed, first, first + most))

    def _run(self, feed: RedisAnomalyFeed, n: int, end: int) -> None:
        while not self._stop.is_set() and n < end:
            feed.publish([anomaly(n), anomaly(n + 1)])
            self.appended += [n, n + 1]
            n += 2

    def __enter__(self) -> Appender:
        self._thread.start()
        return self

    def stop(self) -> list[int]:
        self._stop.set()
        self._thread.join(timeout=30)
        assert not self._thread.is_alive()
        return self.appended

    def __exit__(self, *exc: object) -> None:
        self.stop()


def test_a_client_resuming_with_since_gets_everything_once_in_order_during_appends(
    api_url: str, feed: RedisAnomalyFeed, redis_client: redis.Redis, namespace: str
) -> None:
    with watching(api_url) as ws:
        heartbeat(ws)
        feed.publish([anomaly(n) for n in range(1, 6)])
        last = anomalies(ws, 5)[-1]["cursor"]
    # While it is away: several history pages, and one anomaly appended twice (as by a worker
    # that died between appending and marking it published).
    for start in range(6, 1506, 500):
        feed.publish([anomaly(n) for n in range(start, start + 500)])
    feed.publish([anomaly(700)])

    # Appends go on while it reconnects and replays the history.
    with Appender(feed, first=1506) as appender, watching(api_url, since=last) as ws:
        received = anomalies(ws, 1600)
        appended = appender.stop()
        received += anomalies(ws, 1500 + len(appended) - 1600)
        after = receive(ws)

    assert "heartbeat" in after  # and nothing more
    assert ids(received) == [f"a{n:06d}" for n in [*range(6, 1506), *appended]]
    cursors = [m["cursor"] for m in received]
    stream_ids = [e[0].decode() for e in redis_client.xrange(feed_key(namespace), min=f"({last}")]
    assert cursors == stream_ids[:1500] + stream_ids[1501:]  # all but the second a000700
    assert cursors == sorted(cursors, key=cursor_key)


def test_since_older_than_the_kept_entries_gets_a_gap_notice_then_the_kept_ones(
    api_url: str, feed: RedisAnomalyFeed, redis_client: redis.Redis, namespace: str
) -> None:
    cursors = feed.publish([anomaly(n) for n in range(1, 6)])
    redis_client.xtrim(feed_key(namespace), maxlen=2, approximate=False)

    with watching(api_url, since=cursors[0]) as ws:
        gap, *kept = [receive(ws) for _ in range(3)]
    with watching(api_url, since="0") as ws:
        oldest = [receive(ws) for _ in range(2)]

    assert (gap["gap"], gap["since"], gap["first_cursor"]) == (True, cursors[0], cursors[3])
    assert ids(kept) == ids(oldest) == ["a000004", "a000005"]


def test_an_idle_client_gets_heartbeats(api_url: str) -> None:
    with watching(api_url) as ws:
        first, second = heartbeat(ws), heartbeat(ws)

    times = [datetime.fromisoformat(beat["heartbeat"]) for beat in (first, second)]
    assert times[0].tzinfo is not None and times[0] < times[1]


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"severity": "fatal"}, "severity: 'fatal' is not one of info, warning, critical"),
        ({"rule_id": "Not An Id"}, "rule_id: 'Not An Id' is not a rule id"),
        ({"since": "last-tuesday"}, "since: expected a message's cursor (<ms>-<seq>), or 0"),
    ],
)
def test_an_invalid_parameter_is_refused_with_a_reason_naming_it(
    api_url: str, params: dict[str, str], reason: str
) -> None:
    with watching(api_url, **params) as ws:
        code, said, before = closing(ws, timeout=10)

    assert (code, before) == (4422, [])
    assert said.startswith(reason)
