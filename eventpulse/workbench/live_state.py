"""What the live viewer knows, without widgets or Redis: the bounded inbox the reading thread
fills, and the state the pump folds it into (deduplicated anomalies, filters, counters).

The inbox never blocks its writer: when it is full (the pump is paused or slow) new anomalies
are dropped and counted, and the viewer asks its source for a fresh backfill once it drains.
The state keeps the latest `keep` distinct anomalies by feed cursor, whatever the filters, so
changing a filter redraws from what was already received.
"""

from __future__ import annotations

import heapq
import threading
from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from eventpulse.application.live_anomalies import Position, parse_cursor

SEVERITIES: Final = ("critical", "warning", "info")
Anomaly = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Received:
    """One anomaly from the feed, live or backfilled."""

    cursor: str
    anomaly: Anomaly


@dataclass(frozen=True, slots=True)
class Status:
    """The source's connection changed: `connected` False while it reconnects."""

    connected: bool
    detail: str


Item = Received | Status


class Inbox:
    """A bounded, thread-safe hand-over from the reading thread to the pump."""

    def __init__(self, bound: int) -> None:
        self._bound = bound
        self._items: deque[Item] = deque()
        self._lock = threading.Lock()
        self._dropped = 0

    def put(self, item: Item) -> bool:
        """Queue `item`; False (and counted) when an anomaly found the inbox full. A status is
        always kept: it is small and the viewer must not miss a disconnect."""
        with self._lock:
            if isinstance(item, Received) and len(self._items) >= self._bound:
                self._dropped += 1
                return False
            self._items.append(item)
            return True

    def take(self, limit: int) -> tuple[list[Item], int]:
        """Up to `limit` items, oldest first, and the anomalies dropped since the last take."""
        with self._lock:
            count = min(limit, len(self._items))
            items = [self._items.popleft() for _ in range(count)]
            dropped, self._dropped = self._dropped, 0
            return items, dropped

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


@dataclass(frozen=True, slots=True)
class Filters:
    """Empty sets match everything."""

    severities: frozenset[str] = frozenset()
    rule_ids: frozenset[str] = frozenset()

    def match(self, anomaly: Anomaly) -> bool:
        if self.severities and anomaly.get("severity") not in self.severities:
            return False
        return not self.rule_ids or anomaly.get("rule_id") in self.rule_ids


@dataclass(slots=True)
class Counters:
    received: int = 0  # anomalies read from the feed (live and backfill), repeats included
    duplicates: int = 0  # repeats of an anomaly already received, dropped by id
    dropped: int = 0  # anomalies lost to a full inbox (a backfill recovers the recent ones)


@dataclass(slots=True)
class LiveState:
    """The distinct anomalies received (the latest `keep`, by feed cursor), the filters and the
    counters. `apply` folds a batch in and says whether anything visible changed."""

    keep: int = 1000
    filters: Filters = field(default_factory=Filters)
    counters: Counters = field(default_factory=Counters)
    connected: bool = False
    status: str = "connecting"
    _anomalies: OrderedDict[str, tuple[Position, Anomaly]] = field(default_factory=OrderedDict)
    _seen: OrderedDict[str, None] = field(default_factory=OrderedDict)
    _oldest: list[tuple[Position, str]] = field(default_factory=list)  # a heap, to evict

    def apply(self, items: Iterable[Item], dropped: int = 0) -> bool:
        changed = dropped > 0
        self.counters.dropped += dropped
        for item in items:
            if isinstance(item, Status):
                self.connected, self.status = item.connected, item.detail
                changed = True
            elif self._add(item):
                changed = True
        return changed

    def shown(self, limit: int | None = None) -> list[Anomaly]:
        """The anomalies matching the filters, newest (latest cursor) first."""
        out: list[Anomaly] = []
        for _, anomaly in sorted(self._anomalies.values(), key=_by_position, reverse=True):
            if self.filters.match(anomaly):
                out.append(anomaly)
                if limit is not None and len(out) >= limit:
                    break
        return out

    def rule_ids(self) -> list[str]:
        return sorted({str(a.get("rule_id")) for _, a in self._anomalies.values()})

    def _add(self, item: Received) -> bool:
        self.counters.received += 1
        anomaly_id = str(item.anomaly.get("anomaly_id"))
        position = parse_cursor(item.cursor)
        if anomaly_id in self._seen or position is None:
            self.counters.duplicates += position is not None
            return False
        self._seen[anomaly_id] = None
        if len(self._seen) > 10 * self.keep:
            self._seen.popitem(last=False)
        self._anomalies[anomaly_id] = (position, item.anomaly)
        heapq.heappush(self._oldest, (position, anomaly_id))
        while len(self._anomalies) > self.keep:
            _, oldest = heapq.heappop(self._oldest)
            del self._anomalies[oldest]
        return True


def _by_position(entry: tuple[Position, Anomaly]) -> Position:
    return entry[0]
