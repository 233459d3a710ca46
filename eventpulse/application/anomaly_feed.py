"""The anomaly feed: stored anomalies appended, in storage order, to a durable stream.

A transactional outbox: the evaluation step stores anomalies (unpublished), then
`FeedPublisher.publish_pending` appends every unpublished one to the feed and marks it
published. A worker that dies in between leaves them unpublished and the next evaluating worker
publishes them, so no stored anomaly is missing from the feed. The price is at most one
repeat per anomaly that was appended but not yet marked when the worker died; consumers
deduplicate on `anomaly_id` (a notifier records at most one success per anomaly and channel).
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

log = logging.getLogger("eventpulse.feed")

Document = dict[str, Any]


class AnomalyOutbox(Protocol):
    """Stored anomalies not yet in the feed (PostgreSQL)."""

    def unpublished(self, limit: int) -> list[Document]:
        """The oldest unpublished anomalies as API documents, in storage order."""
        ...

    def mark_published(self, anomaly_ids: list[str]) -> None: ...


class AnomalyFeed(Protocol):
    """The feed (Redis Stream `{ns}:anomalies` + live Pub/Sub fan-out)."""

    def publish(self, documents: list[Document]) -> list[str]:
        """Append in order; the feed cursors (stream entry ids) they got."""
        ...


class FeedPublisher:
    def __init__(self, outbox: AnomalyOutbox, feed: AnomalyFeed, batch: int = 500) -> None:
        self._outbox = outbox
        self._feed = feed
        self._batch = batch

    def publish_pending(self) -> int:
        """Publish every unpublished anomaly; how many. Failures propagate (retried later)."""
        published = 0
        while documents := self._outbox.unpublished(self._batch):
            self._feed.publish(documents)
            self._outbox.mark_published([d["anomaly_id"] for d in documents])
            published += len(documents)
            if len(documents) < self._batch:
                break
        return published
