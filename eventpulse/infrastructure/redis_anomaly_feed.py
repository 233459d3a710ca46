"""The anomaly feed in Redis: stream `{ns}:anomalies` (one anomaly document per entry, field
`a`) and the Pub/Sub channel `{ns}:anomalies:live`, whose messages are
`{"cursor": <entry id>, "anomaly": {...}}` — the cursor a WebSocket client resumes from.

Trimming keeps every entry some consumer group (the notifiers) has not acknowledged, like the
ingest stream (invariant 4), and, beyond that, at most `max_len` entries for resuming readers.
"""

from __future__ import annotations

from typing import Any, Final

import orjson
from redis import Redis

from eventpulse.application.anomaly_feed import Document
from eventpulse.infrastructure.redis_errors import stream_errors
from eventpulse.infrastructure.redis_stream import oldest_unacknowledged

FEED_FIELD: Final = "a"


def feed_key(namespace: str) -> str:
    return f"{namespace}:anomalies"


def live_channel(namespace: str) -> str:
    return f"{namespace}:anomalies:live"


def _json(value: Any) -> bytes:
    return orjson.dumps(value, default=str)


class RedisAnomalyFeed:
    def __init__(self, client: Redis, namespace: str, max_len: int = 100_000) -> None:
        self._client = client
        self._key = feed_key(namespace)
        self._live = live_channel(namespace)
        self._max_len = max_len

    def publish(self, documents: list[Document]) -> list[str]:
        if not documents:
            return []
        bodies = [_json(document) for document in documents]
        with stream_errors("appending to the anomaly feed"):
            pipe = self._client.pipeline(transaction=True)
            for body in bodies:
                pipe.xadd(self._key, {FEED_FIELD: body})
            ids = [i.decode() if isinstance(i, bytes) else str(i) for i in pipe.execute()]
            pipe = self._client.pipeline(transaction=False)
            for entry_id, body in zip(ids, bodies, strict=True):
                pipe.publish(
                    self._live, b'{"cursor":"%s","anomaly":%s}' % (entry_id.encode(), body)
                )
            pipe.execute()
            self._trim()
        return ids

    def _trim(self) -> None:
        floor = oldest_unacknowledged(self._client, self._key)
        length = int(self._client.xlen(self._key))
        if length <= self._max_len:
            return
        if floor is None:  # no consumer group: keep the newest max_len for resuming readers
            self._client.xtrim(self._key, maxlen=self._max_len, approximate=True)
        else:
            self._client.xtrim(self._key, minid=floor, approximate=True)
