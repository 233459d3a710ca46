"""In-memory stand-ins for the notifier's ports: a feed with a pending list, delivery records
with the one-success rule, silences, rule tags, and senders that succeed, fail or hang."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from eventpulse.application.notify_ports import (
    FINAL_STATUSES,
    Attempt,
    DeliveryFailed,
    Prior,
)
from eventpulse.application.ports import StreamEntry
from eventpulse.domain.notifications import Notification
from eventpulse.domain.silences import Silence


def anomaly(anomaly_id: str, rule_id: str = "cpu", severity: str = "critical") -> dict[str, Any]:
    return {
        "anomaly_id": anomaly_id,
        "rule_id": rule_id,
        "rule_version": 1,
        "severity": severity,
        "group": {"source": "h1"},
        "window_start": "2024-03-01T00:00:00Z",
        "window_end": "2024-03-01T00:01:00Z",
        "ts": "2024-03-01T00:01:00Z",
        "value": 1.0,
        "message": f"anomaly {anomaly_id}",
        "details": {},
        "created_at": "2024-03-01T00:01:01Z",
    }


class FakeFeed:
    def __init__(self) -> None:
        self.entries: dict[str, bytes | None] = {}
        self.unread: list[str] = []
        self.pending: dict[str, int] = {}  # entry id → deliveries
        self.acked: list[str] = []
        self.dead: list[tuple[str, str]] = []
        self._seq = 0

    def append(self, *documents: Any, raw: bytes | None = None) -> list[str]:
        ids = []
        for document in documents:
            self._seq += 1
            entry_id = f"{self._seq}-0"
            self.entries[entry_id] = raw if raw is not None else orjson.dumps(document)
            self.unread.append(entry_id)
            ids.append(entry_id)
        return ids

    def leave_pending(self, entry_id: str, deliveries: int = 1) -> None:
        self.unread.remove(entry_id)
        self.pending[entry_id] = deliveries

    async def ensure_group(self) -> None:
        return None

    async def read_own_pending(self, after: str, count: int) -> list[StreamEntry]:
        ids = [i for i in sorted(self.pending, key=_key) if _key(i) > _key(after)][:count]
        for entry_id in ids:
            self.pending[entry_id] += 1
        return [StreamEntry(i, self.entries[i], self.pending[i]) for i in ids]

    async def read_new(self, count: int, block_ms: int) -> list[StreamEntry]:
        ids, self.unread = self.unread[:count], self.unread[count:]
        if not ids:
            await asyncio.sleep(min(block_ms, 20) / 1000)
        for entry_id in ids:
            self.pending[entry_id] = 1
        return [StreamEntry(i, self.entries[i], 1) for i in ids]

    async def claim_abandoned(self, count: int) -> list[StreamEntry]:
        return []

    async def ack(self, entry_ids: Sequence[str]) -> None:
        for entry_id in entry_ids:
            self.pending.pop(entry_id, None)
            self.acked.append(entry_id)

    async def touch(self, entry_ids: Sequence[str]) -> None:
        return None

    async def dead_letter(
        self, entry_id: str, data: bytes | None, error: str, deliveries: int
    ) -> None:
        self.dead.append((entry_id, error))


def _key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


class FakeRecords:
    def __init__(self) -> None:
        self.rows: list[Attempt] = []

    async def prior(self, anomaly_ids: Sequence[str]) -> dict[tuple[str, str], Prior]:
        found: dict[tuple[str, str], Prior] = {}
        for row in self.rows:
            if row.anomaly_id not in anomaly_ids:
                continue
            key = (row.anomaly_id, row.channel)
            before = found.get(key, Prior(None, 0))
            final = before.final or (row.status if row.status in FINAL_STATUSES else None)
            found[key] = Prior(final, max(before.attempts, row.attempt))
        return found

    async def record(self, attempts: Sequence[Attempt]) -> None:
        self.rows.extend(attempts)

    async def record_sent(self, attempt: Attempt) -> bool:
        if any(
            (r.anomaly_id, r.channel, r.status) == (attempt.anomaly_id, attempt.channel, "sent")
            for r in self.rows
        ):
            self.rows.append(_status(attempt, "duplicate"))
            return False
        self.rows.append(_status(attempt, "sent"))
        return True

    def of(self, channel: str) -> list[tuple[str, int, str]]:
        return [(r.anomaly_id, r.attempt, r.status) for r in self.rows if r.channel == channel]


def _status(attempt: Attempt, status: str) -> Attempt:
    return Attempt(
        attempt.anomaly_id,
        attempt.channel,
        attempt.route,
        attempt.attempt,
        status,
        attempt.error,
        attempt.latency_ms,
        attempt.details,
    )


class FakeSilences:
    def __init__(self, *silences: Silence) -> None:
        self.silences = list(silences)

    async def active(self) -> Sequence[Silence]:
        return self.silences


def silence_rule(rule_id: str) -> Silence:
    now = datetime.now(UTC)
    return Silence("s1", now - timedelta(hours=1), now + timedelta(hours=1), (rule_id,))


class FakeTags:
    def __init__(self, tags: Mapping[tuple[str, int], tuple[str, ...]] | None = None) -> None:
        self._tags = dict(tags or {})

    async def tags(
        self, versions: set[tuple[str, int]]
    ) -> Mapping[tuple[str, int], tuple[str, ...]]:
        return {v: self._tags.get(v, ()) for v in versions}


class FakeSender:
    """Fails the first `fail_first` attempts of each anomaly (or digest), or every attempt
    (`always_fail`), or hangs (`hang`); records what it sent, with the time."""

    def __init__(
        self, *, fail_first: int = 0, always_fail: bool = False, hang: bool = False
    ) -> None:
        self.fail_first = fail_first
        self.always_fail = always_fail
        self.hang = hang
        self.permanent = False
        self.sent: list[tuple[float, Notification]] = []
        self.attempts: dict[str, int] = {}

    async def send(self, notification: Notification) -> None:
        key = ",".join(str(a["anomaly_id"]) for a in notification.anomalies)
        self.attempts[key] = self.attempts.get(key, 0) + 1
        if self.hang:
            await asyncio.Event().wait()
        if self.always_fail or self.attempts[key] <= self.fail_first:
            raise DeliveryFailed("HTTP 500: boom", permanent=self.permanent)
        self.sent.append((time.monotonic(), notification))

    async def close(self) -> None:
        return None

    def sent_ids(self) -> list[str]:
        return [str(a["anomaly_id"]) for _, n in self.sent for a in n.anomalies]
