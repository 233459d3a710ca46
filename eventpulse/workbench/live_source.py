"""The live viewer's source: a thread reading the anomaly feed from Redis into an `Inbox`.

Order matters for not missing anything: subscribe to the live channel (`{ns}:anomalies:live`)
and wait for Redis to confirm it, *then* backfill the latest entries of the feed stream
(`{ns}:anomalies`, newest `backfill` entries, oldest first). An anomaly appended meanwhile is
then in the backfill, in the live messages, or both; the state drops repeats by id. When the
connection is lost, messages published meanwhile are gone, so after reconnecting (with
backoff) the thread backfills again. `resync()` asks for one more backfill (the viewer does
after its inbox overflowed).

A thread, not an asyncio task: in ipykernel 7 tasks on the kernel's loop stall between cells.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any, Final, Protocol

import orjson
import redis
from redis.client import PubSub

from eventpulse.infrastructure.redis_anomaly_feed import FEED_FIELD, feed_key, live_channel
from eventpulse.workbench.live_state import Inbox, Received, Status

log = logging.getLogger("eventpulse.workbench.live")

CLIENT_NAME: Final = "eventpulse-live-viewer"  # how `CLIENT LIST` shows the viewers
READ_TIMEOUT_S: Final = 0.25
MAX_BACKOFF_S: Final = 5.0
HEALTH_CHECK_S: Final = 10
_FIELD: Final = FEED_FIELD.encode()


class LiveSource(Protocol):
    """What the viewer needs of a source (tests drive the viewer with a fake one)."""

    def start(self, inbox: Inbox) -> None: ...

    def resync(self) -> None: ...

    def stop(self, timeout: float = 5.0) -> None: ...


class RedisLiveSource:
    def __init__(self, redis_url: str, namespace: str, *, backfill: int = 200) -> None:
        self._url = redis_url
        self._channel = live_channel(namespace)
        self._stream = feed_key(namespace)
        self._backfill = backfill
        self._stopping = threading.Event()
        self._resync = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, inbox: Inbox) -> None:
        self._thread = threading.Thread(
            target=self._run, args=(inbox,), name="eventpulse-live-viewer", daemon=True
        )
        self._thread.start()

    def resync(self) -> None:
        self._resync.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self, inbox: Inbox) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                client = self._connect()
            except Exception as exc:  # a malformed URL: say so, retry in case settings change
                inbox.put(Status(False, f"cannot connect: {exc}"))
                failures += 1
                self._stopping.wait(MAX_BACKOFF_S)
                continue
            pubsub = client.pubsub(ignore_subscribe_messages=False)  # type: ignore[no-untyped-call]
            try:
                pubsub.subscribe(self._channel)
                self._confirmed(pubsub)
                self._backfill_into(client, inbox)
                inbox.put(Status(True, "live"))
                failures = 0
                self._read(client, pubsub, inbox)
            except (redis.RedisError, OSError) as exc:
                failures += 1
                inbox.put(Status(False, f"reconnecting: {exc}"))
                log.warning("live viewer lost Redis, reconnecting: %s", exc)
            except Exception as exc:  # a bug must show and retry, not end the thread unseen
                failures += 1
                inbox.put(Status(False, f"error, retrying: {type(exc).__name__}: {exc}"))
                log.exception("live viewer: reading the feed failed")
            finally:
                _close(pubsub, client)
            self._stopping.wait(min(MAX_BACKOFF_S, 0.1 * 2 ** min(failures, 8)))

    def _connect(self) -> redis.Redis:
        """A client that notices a dead connection: a PING when idle for `HEALTH_CHECK_S` (a
        half-open TCP connection would otherwise look live while anomalies are missed)."""
        return redis.Redis.from_url(
            self._url,
            socket_connect_timeout=2,
            socket_timeout=5,
            health_check_interval=HEALTH_CHECK_S,
            client_name=CLIENT_NAME,
        )

    def _confirmed(self, pubsub: PubSub) -> None:
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and not self._stopping.is_set():
            message = pubsub.get_message(timeout=READ_TIMEOUT_S)
            if message is not None and message["type"] == "subscribe":
                return
        if not self._stopping.is_set():
            raise redis.ConnectionError("Redis did not confirm the subscription")

    def _backfill_into(self, client: redis.Redis, inbox: Inbox) -> None:
        self._resync.clear()
        rows: Any = client.xrevrange(self._stream, count=self._backfill)
        for entry_id, fields in reversed(rows):
            anomaly = _decode(fields.get(_FIELD))
            if anomaly is not None:
                inbox.put(Received(entry_id.decode(), anomaly))

    def _read(self, client: redis.Redis, pubsub: PubSub, inbox: Inbox) -> None:
        while not self._stopping.is_set():
            if self._resync.is_set():
                self._backfill_into(client, inbox)
            message = pubsub.get_message(timeout=READ_TIMEOUT_S)
            if message is None:
                continue
            if message["type"] == "subscribe":  # redis-py reconnected by itself: fill the gap
                self._backfill_into(client, inbox)
            elif message["type"] == "message":
                received = _live(message["data"])
                if received is not None:
                    inbox.put(received)


def _decode(body: bytes | None) -> dict[str, Any] | None:
    try:
        anomaly = orjson.loads(body) if body is not None else None
    except orjson.JSONDecodeError:
        return None
    return anomaly if isinstance(anomaly, dict) else None


def _live(data: bytes) -> Received | None:
    try:
        document = orjson.loads(data)
        cursor, anomaly = document["cursor"], document["anomaly"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None
    if not isinstance(cursor, str) or not isinstance(anomaly, dict):
        return None
    return Received(cursor, anomaly)


def _close(pubsub: PubSub, client: redis.Redis) -> None:
    for closing in (pubsub.close, client.close):
        with contextlib.suppress(redis.RedisError, OSError):  # broken already: nothing to free
            closing()
