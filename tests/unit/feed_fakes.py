"""The anomaly feed in memory: its history (a list of entries) and a live feed whose
subscribers get what `append` adds, like the stream plus its Pub/Sub channel."""

from __future__ import annotations

from typing import Any

import orjson

from eventpulse.application.live_anomalies import (
    ORIGIN,
    FeedBounds,
    FeedEntry,
    LiveQueue,
    Position,
    format_cursor,
)
from eventpulse.domain.errors import StreamUnavailable


def anomaly(anomaly_id: str, *, rule_id: str = "checkout", severity: str = "critical") -> Any:
    return {"anomaly_id": anomaly_id, "rule_id": rule_id, "severity": severity}


def feed_entry(position: Position, document: dict[str, Any]) -> FeedEntry:
    cursor = format_cursor(position)
    body = orjson.dumps(document)
    return FeedEntry(
        cursor, position, document, b'{"cursor":"%s","anomaly":%s}' % (cursor.encode(), body)
    )


class FakeFeed:
    """Both ports: `FeedHistory` over `entries` and `LiveFeed` to `subscribers`."""

    def __init__(self, *, queue_size: int = 100, trimmed_through: Position | None = None) -> None:
        self.entries: list[FeedEntry] = []
        self.subscribers: list[LiveQueue] = []
        self.queue_size = queue_size
        self.trimmed_through = trimmed_through
        self.unavailable = False
        self.on_read: Any = None
        self._last = ORIGIN

    def append(self, *documents: dict[str, Any], live: bool = True) -> list[FeedEntry]:
        added = []
        for document in documents:
            self._last = (self._last[0] + 1, 0)
            entry = feed_entry(self._last, document)
            self.entries.append(entry)
            added.append(entry)
        for entry in added if live else ():
            for queue in self.subscribers:
                queue.offer(entry)
        return added

    def trim(self, keep: int) -> None:
        removed, self.entries = self.entries[:-keep], self.entries[-keep:]
        if removed:
            self.trimmed_through = removed[-1].position

    async def bounds(self) -> FeedBounds:
        first = self.entries[0].position if self.entries else None
        return FeedBounds(first, self._last, self.trimmed_through)

    async def after(self, position: Position, count: int) -> list[FeedEntry]:
        if self.on_read is not None:
            self.on_read()
        return [e for e in self.entries if e.position > position][:count]

    async def subscribe(self) -> LiveQueue:
        if self.unavailable:
            raise StreamUnavailable("Redis is down")
        queue = LiveQueue(self.queue_size)
        self.subscribers.append(queue)
        return queue

    def unsubscribe(self, queue: LiveQueue) -> None:
        self.subscribers.remove(queue)
