"""The worker's side of the ingest stream: one consumer of the `persisters` group."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from redis import Redis
from redis.exceptions import ResponseError

from eventpulse.application.event_codec import ENTRY_FIELD
from eventpulse.application.ports import StreamEntry
from eventpulse.infrastructure.redis_errors import stream_errors

GROUP = "persisters"


def ensure_group(client: Redis, stream_key: str, group: str = GROUP) -> None:
    """Create the group at id 0, so entries written before any worker started are delivered."""
    try:
        client.xgroup_create(stream_key, group, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


class RedisIngestStream:
    def __init__(
        self,
        client: Redis,
        stream_key: str,
        dead_letter_key: str,
        consumer: str,
        *,
        claim_idle_ms: int,
        group: str = GROUP,
    ) -> None:
        self._client = client
        self._key = stream_key
        self._dead_key = dead_letter_key
        self._consumer = consumer
        self._group = group
        self._claim_idle_ms = claim_idle_ms
        self._claim_cursor = "0-0"

    def ensure_group(self) -> None:
        with stream_errors("creating the consumer group"):
            ensure_group(self._client, self._key, self._group)

    def read_new(self, count: int, block_ms: int) -> list[StreamEntry]:
        with stream_errors("reading the ingest stream"):
            try:
                reply: Any = self._client.xreadgroup(
                    self._group, self._consumer, {self._key: ">"}, count=count, block=block_ms
                )
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                # The stream or group was deleted (FLUSHALL, DEL): recreate the group at 0.
                ensure_group(self._client, self._key, self._group)
                return []
        if not reply:
            return []
        return [_entry(entry_id, fields, 1) for entry_id, fields in reply[0][1]]

    def read_own_pending(self, count: int) -> list[StreamEntry]:
        with stream_errors("reading own pending entries"):
            pending: Any = self._client.xpending_range(
                self._key, self._group, min="-", max="+", count=count, consumername=self._consumer
            )
            if not pending:
                return []
            ids = [p["message_id"] for p in pending]
            claimed = self._client.xclaim(self._key, self._group, self._consumer, 0, ids)
            entries = self._with_deliveries(claimed) if claimed else []
        # An id XCLAIM did not return was deleted from the stream: surface it with no data so
        # that it is dead-lettered and acknowledged instead of blocking the drain forever.
        returned = {entry.entry_id for entry in entries}
        entries += [
            StreamEntry(_id(p["message_id"]), None, int(p["times_delivered"]) + 1)
            for p in pending
            if _id(p["message_id"]) not in returned
        ]
        return entries

    def claim_abandoned(self, count: int) -> list[StreamEntry]:
        with stream_errors("claiming idle entries"):
            reply: Any = self._client.xautoclaim(
                self._key,
                self._group,
                self._consumer,
                self._claim_idle_ms,
                start_id=self._claim_cursor,
                count=count,
            )
            cursor, claimed = reply[0], reply[1]
            self._claim_cursor = cursor.decode() if isinstance(cursor, bytes) else str(cursor)
            if not claimed:
                return []
            return self._with_deliveries(claimed)

    def ack(self, entry_ids: Sequence[str]) -> None:
        if not entry_ids:
            return
        with stream_errors("acknowledging entries"):
            self._client.xack(self._key, self._group, *entry_ids)

    def touch(self, entry_ids: Sequence[str]) -> None:
        if not entry_ids:
            return
        with stream_errors("refreshing held entries"):
            # JUSTID: resets the idle time without counting a delivery.
            self._client.xclaim(
                self._key, self._group, self._consumer, 0, list(entry_ids), justid=True
            )

    def dead_letter(self, entry_id: str, data: bytes | None, error: str, deliveries: int) -> None:
        with stream_errors("writing a dead letter"):
            self._client.xadd(
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

    def trim_acknowledged(self) -> int:
        """Trim below the oldest entry some group has not acknowledged (invariant 4)."""
        with stream_errors("trimming the ingest stream"):
            floor = oldest_unacknowledged(self._client, self._key)
            if floor is None:
                return 0
            # MINID removes entries strictly below `floor`; exact, so the stream length the API
            # uses for backpressure is the real backlog (plus at most one acknowledged entry).
            return int(self._client.xtrim(self._key, minid=floor, approximate=False))

    def _with_deliveries(self, claimed: list[Any]) -> list[StreamEntry]:
        first, last = _id(claimed[0][0]), _id(claimed[-1][0])
        pending: Any = self._client.xpending_range(
            self._key,
            self._group,
            min=first,
            max=last,
            count=len(claimed) * 2,
            consumername=self._consumer,
        )
        counts = {_id(p["message_id"]): int(p["times_delivered"]) for p in pending}
        return [
            _entry(entry_id, fields, counts.get(_id(entry_id), 1)) for entry_id, fields in claimed
        ]


def oldest_unacknowledged(client: Redis, key: str) -> str | None:
    """The oldest entry of `key` that some consumer group has not acknowledged (or, for a
    group with nothing pending, the last entry it was delivered); None without groups."""
    groups: Any = client.xinfo_groups(key)
    floors = []
    for info in groups:
        name = info["name"]
        summary: Any = client.xpending(key, name) if info["pending"] else None
        if summary and summary["pending"] and summary["min"]:
            floors.append(_id(summary["min"]))
        else:  # nothing pending (another consumer may have just acked the last one)
            floors.append(_id(info["last-delivered-id"]))
    return min(floors, key=_id_key) if floors else None


def _entry(
    entry_id: bytes | str, fields: dict[bytes, bytes] | None, deliveries: int
) -> StreamEntry:
    data = fields.get(ENTRY_FIELD) if fields else None
    return StreamEntry(_id(entry_id), data, deliveries)


def _id(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)
