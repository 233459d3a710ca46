"""The anomaly feed's kept entries, read for resuming watchers: XINFO STREAM for its bounds,
XRANGE in pages for the entries after a cursor (stream `{ns}:anomalies`, field `a`)."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from eventpulse.application.live_anomalies import (
    ORIGIN,
    FeedBounds,
    FeedEntry,
    Position,
    format_cursor,
    parse_cursor,
    successor,
)
from eventpulse.infrastructure.redis_anomaly_feed import FEED_FIELD, feed_key
from eventpulse.infrastructure.redis_errors import stream_errors

log = logging.getLogger("eventpulse.feed")

_FIELD = FEED_FIELD.encode()


class RedisFeedHistory:
    """The `FeedHistory` port on the API's Redis client."""

    def __init__(self, client: Redis, namespace: str) -> None:
        self._client = client
        self._key = feed_key(namespace)

    async def bounds(self) -> FeedBounds:
        with stream_errors("reading the anomaly feed"):
            try:
                info: dict[str, Any] = await self._client.xinfo_stream(self._key)
            except ResponseError as exc:
                if "no such key" in str(exc).lower():
                    return FeedBounds(None, ORIGIN, None)
                raise
        first = info.get("first-entry")
        max_deleted = info.get("max-deleted-entry-id")  # Redis 7+
        return FeedBounds(
            first=None if not first else _position(first[0]),
            last=_position(info["last-generated-id"]),
            max_deleted=None if max_deleted is None else _position(max_deleted),
        )

    async def after(self, position: Position, count: int) -> list[FeedEntry]:
        start = format_cursor(successor(position))
        with stream_errors("reading the anomaly feed"):
            rows: list[tuple[bytes, dict[bytes, bytes]]] = await self._client.xrange(
                self._key, min=start, max="+", count=count
            )  # type: ignore[assignment]
        entries = (_entry(entry_id, fields) for entry_id, fields in rows)
        return [entry for entry in entries if entry is not None]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _position(entry_id: bytes | str) -> Position:
    position = parse_cursor(_text(entry_id))
    assert position is not None, f"not a stream entry id: {entry_id!r}"
    return position


def _entry(entry_id: bytes | str, fields: dict[bytes, bytes]) -> FeedEntry | None:
    cursor = _text(entry_id)
    body = fields.get(_FIELD)
    try:
        anomaly = orjson.loads(body) if body is not None else None
    except orjson.JSONDecodeError:
        anomaly = None
    if not isinstance(anomaly, dict):
        log.warning("skipping feed entry %s: no anomaly document in field %r", cursor, FEED_FIELD)
        return None
    assert body is not None
    return FeedEntry(
        cursor=cursor,
        position=_position(cursor),
        anomaly=anomaly,
        message=b'{"cursor":"%s","anomaly":%s}' % (cursor.encode(), body),
    )
