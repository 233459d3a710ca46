"""Digests: a route with `digest > 0` sends its anomalies per channel as one message per
window, instead of one message each.

A window opens when its first anomaly arrives at this notifier (wall clock: notifications are
operational, not event-time facts) and closes `digest` seconds later, or earlier once it holds
`max_items`. Closed, it is delivered like any notification (retries, dead letter), and each
anomaly in it is recorded as `digested` when the digest was sent.

Durability: the feed entries of anomalies in an open digest stay unacknowledged (they are
touched, so no replica claims them) until the digest reached a final state. A notifier that
crashes with open digests loses nothing: their entries are delivered again, to it after a
restart or to a replica after the claim threshold, and go into a new digest. A notifier told
to stop sends its open digests at once instead of waiting for their windows.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from eventpulse.application.notify_delivery import Deliveries, OnFinal, Target
from eventpulse.domain.notifications import Notification, Route, summarize


@dataclass(slots=True)
class _Window:
    route: Route
    channel: str
    opened_at: datetime
    handle: asyncio.TimerHandle | None = None
    anomalies: list[Mapping[str, Any]] = field(default_factory=list)
    callbacks: list[OnFinal] = field(default_factory=list)


class Digests:
    def __init__(
        self,
        deliveries: Deliveries,
        *,
        listed: int = 10,
        max_items: int = 500,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._deliveries = deliveries
        self._listed = listed
        self._max_items = max_items
        self._now = now
        self._open: dict[tuple[str, str], _Window] = {}

    def add(
        self, route: Route, channel: str, anomaly: Mapping[str, Any], on_final: OnFinal
    ) -> None:
        key = (route.name, channel)
        window = self._open.get(key)
        if window is None:
            window = _Window(route, channel, self._now())
            window.handle = asyncio.get_running_loop().call_later(route.digest_s, self._close, key)
            self._open[key] = window
        window.anomalies.append(anomaly)
        window.callbacks.append(on_final)
        if len(window.anomalies) >= self._max_items:
            self._close(key)

    def open_count(self) -> int:
        return sum(len(window.anomalies) for window in self._open.values())

    def close_all(self) -> None:
        for key in list(self._open):
            self._close(key)

    def _close(self, key: tuple[str, str]) -> None:
        window = self._open.pop(key, None)
        if window is None:
            return
        if window.handle is not None:
            window.handle.cancel()
        digest_id = uuid.uuid4().hex
        summary = summarize(
            digest_id,
            window.anomalies,
            self._listed,
            window.opened_at.isoformat(),
            self._now().isoformat(),
        )
        callbacks = window.callbacks

        def finished(outcome: str) -> None:
            for callback in callbacks:
                callback(outcome)

        self._deliveries.start(
            Target(
                window.channel,
                window.route.name,
                Notification(window.route.name, tuple(window.anomalies), summary),
                finished,
                details={"digest_id": digest_id, "digest_size": len(window.anomalies)},
            )
        )
