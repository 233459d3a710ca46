"""Live anomalies for one API process: a single Pub/Sub subscription to `{ns}:anomalies:live`,
fanned out to every subscriber's bounded `LiveQueue`.

`run` is the one reader task (started by the app's lifespan). It restarts with backoff after
Redis errors. Whenever the subscription is lost, messages published meanwhile are gone, so
every current subscriber is ended with `StreamUnavailable` (its client resumes with `since`,
from the stream). redis-py may also reconnect and resubscribe by itself inside a read: the
extra `subscribe` confirmation that follows is treated the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Final

import orjson
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from eventpulse.application.live_anomalies import FeedEntry, LiveQueue, parse_cursor
from eventpulse.domain.errors import StreamUnavailable
from eventpulse.infrastructure.redis_anomaly_feed import live_channel

log = logging.getLogger("eventpulse.live")

MAX_BACKOFF_S: Final = 5.0
READ_TIMEOUT_S: Final = 1.0
LOST: Final = "lost the live subscription to Redis"


class RedisLiveAnomalies:
    """The `LiveFeed` port."""

    def __init__(
        self, client: Redis, namespace: str, *, queue_size: int, ready_timeout_s: float = 2.0
    ) -> None:
        self._client = client
        self._channel = live_channel(namespace)
        self._queue_size = queue_size
        self._ready_timeout_s = ready_timeout_s
        self._ready = asyncio.Event()
        self._subscribers: set[LiveQueue] = set()

    async def subscribe(self) -> LiveQueue:
        try:
            async with asyncio.timeout(self._ready_timeout_s):
                await self._ready.wait()
        except TimeoutError:
            raise StreamUnavailable("not subscribed to Redis yet") from None
        queue = LiveQueue(self._queue_size)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: LiveQueue) -> None:
        self._subscribers.discard(queue)

    async def run(self) -> None:
        """Read forever (until cancelled), resubscribing after errors."""
        failures = 0
        while True:
            pubsub = self._client.pubsub()
            try:
                await pubsub.subscribe(self._channel)
                await _confirmed(pubsub)
                self._ready.set()
                failures = 0
                await self._forward(pubsub)
            except (RedisError, OSError) as exc:
                failures += 1
                log.warning("live anomaly feed unavailable, resubscribing: %s", exc)
            finally:
                self._lose()
                await _close(pubsub)
            await asyncio.sleep(min(MAX_BACKOFF_S, 0.05 * 2**failures))

    async def _forward(self, pubsub: PubSub) -> None:
        while True:
            message = await pubsub.get_message(timeout=READ_TIMEOUT_S)
            if message is None:
                continue
            if message["type"] == "subscribe":  # redis-py reconnected: messages were missed
                log.warning("live anomaly feed resubscribed after a reconnect")
                self._lose()
                self._ready.set()
            elif message["type"] == "message":
                self._fan_out(message["data"])

    def _fan_out(self, data: Any) -> None:
        entry = _entry(data)
        if entry is not None:
            for queue in list(self._subscribers):
                queue.offer(entry)

    def _lose(self) -> None:
        self._ready.clear()
        for queue in self._subscribers:
            queue.end(StreamUnavailable(LOST))


async def _confirmed(pubsub: PubSub) -> None:
    """Wait for Redis to confirm the subscription: only then is every later message ours."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5.0
    while loop.time() < deadline:
        message = await pubsub.get_message(timeout=READ_TIMEOUT_S)
        if message is not None and message["type"] == "subscribe":
            return
    raise TimeoutError("Redis did not confirm the subscription")


async def _close(pubsub: PubSub) -> None:
    with contextlib.suppress(RedisError, OSError):
        await pubsub.aclose()  # type: ignore[no-untyped-call]


def _entry(data: Any) -> FeedEntry | None:
    try:
        document = orjson.loads(data)
        cursor, anomaly = document["cursor"], document["anomaly"]
        position = parse_cursor(cursor) if isinstance(anomaly, dict) else None
    except (orjson.JSONDecodeError, KeyError, TypeError):
        position = None
    if position is None:
        log.warning("skipping a malformed live anomaly message: %.200r", data)
        return None
    return FeedEntry(cursor, position, anomaly, bytes(data))
