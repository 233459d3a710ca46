"""The notifier's side of the anomaly feed: one consumer of the `notifiers` group on
`{ns}:anomalies`, and the dead letters `{ns}:anomalies:dead` (entries that are not anomaly
documents, or that were delivered too often without being acknowledged).

The group is created at id 0, so anomalies appended before any notifier ran are delivered.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Final

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from eventpulse.application.ports import StreamEntry
from eventpulse.infrastructure.redis_anomaly_feed import FEED_FIELD, feed_key
from eventpulse.infrastructure.redis_errors import stream_errors

GROUP: Final = "notifiers"


def dead_letter_key(namespace: str) -> str:
    return f"{namespace}:anomalies:dead"


class RedisAnomalyConsumer:
    def __init__(self, client: Redis, namespace: str, consumer: str, *, claim_idle_ms: int) -> None:
        self._client = client
        self._key = feed_key(namespace)
        self._dead_key = dead_letter_key(namespace)
        self._consumer = consumer
        self._claim_idle_ms = claim_idle_ms
        self._claim_cursor = "0-0"

    async def ensure_group(self) -> None:
        with stream_errors("creating the notifiers group"):
            await self._ensure_group()

    async def _ensure_group(self) -> None:
        try:
            await self._client.xgroup_create(self._key, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def read_own_pending(self, after: str, count: int) -> list[StreamEntry]:
        with stream_errors("reading own pending anomalies"):
            pending: Any = await self._client.xpending_range(
                self._key,
                GROUP,
                min=_next_id(after),
                max="+",
                count=count,
                consumername=self._consumer,
            )
            if not pending:
                return []
            ids: list[Any] = [_id(p["message_id"]) for p in pending]
            claimed: Any = await self._client.xclaim(self._key, GROUP, self._consumer, 0, ids)
        data = {_id(entry_id): _data(fields) for entry_id, fields in claimed or []}
        # An id XCLAIM did not return was trimmed from the feed: surfaced without data, so
        # that it is dead-lettered and acknowledged instead of staying pending forever.
        return [
            StreamEntry(
                _id(p["message_id"]), data.get(_id(p["message_id"])), int(p["times_delivered"]) + 1
            )
            for p in pending
        ]

    async def read_new(self, count: int, block_ms: int) -> list[StreamEntry]:
        with stream_errors("reading the anomaly feed"):
            try:
                reply: Any = await self._client.xreadgroup(
                    GROUP, self._consumer, {self._key: ">"}, count=count, block=block_ms
                )
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                await self._ensure_group()  # the feed was deleted (FLUSHALL, DEL)
                return []
        if not reply:
            return []
        return [StreamEntry(_id(entry_id), _data(fields), 1) for entry_id, fields in reply[0][1]]

    async def claim_abandoned(self, count: int) -> list[StreamEntry]:
        with stream_errors("claiming idle anomalies"):
            reply: Any = await self._client.xautoclaim(
                self._key,
                GROUP,
                self._consumer,
                self._claim_idle_ms,
                start_id=self._claim_cursor,
                count=count,
            )
            self._claim_cursor = _id(reply[0])
            # An entry trimmed from the feed comes back without fields: it is surfaced with no
            # data, so that it is dead-lettered and acknowledged.
            claimed = [(c[0], c[1]) for c in reply[1] if c]
            if not claimed:
                return []
            counts = await self._deliveries([_id(entry_id) for entry_id, _ in claimed])
        return [
            StreamEntry(_id(entry_id), _data(fields), counts.get(_id(entry_id), 2))
            for entry_id, fields in claimed
        ]

    async def ack(self, entry_ids: Sequence[str]) -> None:
        if not entry_ids:
            return
        with stream_errors("acknowledging anomalies"):
            await self._client.xack(self._key, GROUP, *entry_ids)

    async def touch(self, entry_ids: Sequence[str]) -> None:
        if not entry_ids:
            return
        with stream_errors("refreshing held anomalies"):
            # JUSTID: resets the idle time without counting a delivery.
            await self._client.xclaim(
                self._key, GROUP, self._consumer, 0, list(entry_ids), justid=True
            )

    async def dead_letter(
        self, entry_id: str, data: bytes | None, error: str, deliveries: int
    ) -> None:
        with stream_errors("writing an anomaly dead letter"):
            await self._client.xadd(
                self._dead_key,
                {
                    "entry_id": entry_id,
                    "data": data or b"",
                    "error": error,
                    "deliveries": deliveries,
                    "consumer": self._consumer,
                    "at": f"{time.time():.3f}",
                },
            )

    async def _deliveries(self, ids: list[str]) -> dict[str, int]:
        pending: Any = await self._client.xpending_range(
            self._key,
            GROUP,
            min=ids[0],
            max=ids[-1],
            count=len(ids) * 2,
            consumername=self._consumer,
        )
        return {_id(p["message_id"]): int(p["times_delivered"]) for p in pending}


def _data(fields: dict[bytes, bytes] | None) -> bytes | None:
    return fields.get(FEED_FIELD.encode()) if fields else None


def _id(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _next_id(entry_id: str) -> str:
    """The smallest id after `entry_id` (XPENDING ranges are inclusive)."""
    ms, _, seq = entry_id.partition("-")
    return f"{ms}-{int(seq or 0) + 1}"
