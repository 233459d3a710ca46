"""The persisted frontier: how far the `persisters` group has stored the ingest stream.

Every entry before the frontier has been acknowledged, and a worker acknowledges an entry only
after the insert of its events committed (or after dead-lettering it), so every event stored
from such an entry is in PostgreSQL. The frontier is the oldest entry still pending in the
group, or, when none is pending, the entry after the last one delivered. Both are read in one
MULTI/EXEC, so no entry can be delivered and slip between the two reads.
"""

from __future__ import annotations

from typing import Any

from redis import Redis
from redis.exceptions import ResponseError

from eventpulse.application.evaluation import Frontier
from eventpulse.infrastructure.redis_errors import stream_errors
from eventpulse.infrastructure.redis_stream import GROUP


class RedisPersistedFrontier:
    def __init__(self, client: Redis, stream_key: str, group: str = GROUP) -> None:
        self._client = client
        self._key = stream_key
        self._group = group

    def frontier(self) -> Frontier | None:
        with stream_errors("reading the persisted frontier"):
            pipe = self._client.pipeline(transaction=True)
            pipe.xinfo_groups(self._key)
            pipe.xpending(self._key, self._group)
            try:
                groups, pending = pipe.execute()
            except ResponseError:  # no stream or no group yet: nothing is persisted
                return None
        info: Any = next((g for g in groups if _text(g["name"]) == self._group), None)
        if info is None:
            return None
        if pending["pending"] and pending["min"]:
            return _entry_key(_text(pending["min"]))
        ms, seq = _entry_key(_text(info["last-delivered-id"]))
        return ms, seq + 1


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _entry_key(entry_id: str) -> Frontier:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)
