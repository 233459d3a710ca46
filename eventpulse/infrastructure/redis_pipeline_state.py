"""Where the pipeline stands in Redis: the streams and their consumer groups, the live workers.

For `GET /api/v1/stats` and the readiness checks. Every read is O(1) or O(groups) on the
server; at most one entry per group is transferred. A group's `lag` is the server's own count
(XINFO GROUPS, Redis 7); older servers count none, so it is then 0 when the group has been
delivered the last entry and unknown (None) otherwise. Ages are measured on Redis's clock
(`TIME`), the clock that stamped the entry ids.
"""

from __future__ import annotations

from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from eventpulse.application.stats import GroupState, PipelineState, StreamState
from eventpulse.infrastructure.redis_anomaly_consumer import dead_letter_key as feed_dead_key
from eventpulse.infrastructure.redis_anomaly_feed import feed_key
from eventpulse.infrastructure.redis_errors import stream_errors
from eventpulse.infrastructure.redis_reload import report_key, workers_key
from eventpulse.infrastructure.redis_stream import GROUP as PERSISTERS


class RedisPipelineState:
    def __init__(self, client: Redis, namespace: str, stream_key: str, dead_key: str) -> None:
        self._client = client
        self._namespace = namespace
        self._events = (stream_key, dead_key)
        self._feed = (feed_key(namespace), feed_dead_key(namespace))

    async def state(self) -> PipelineState:
        with stream_errors("reading the pipeline state"):
            events, first_age = await self._stream(*self._events)
            anomalies, _ = await self._stream(*self._feed)
            workers = await self.live_workers()
        return PipelineState(events, anomalies, workers, _ingest_lag(events, first_age))

    async def ingest_lag_s(self) -> float:
        """How long the oldest accepted event not yet stored has waited (0: none waits)."""
        with stream_errors("reading the ingest lag"):
            events, first_age = await self._stream(*self._events)
        return _ingest_lag(events, first_age)

    async def live_workers(self) -> dict[str, int]:
        """Workers whose heartbeat report has not expired, with the rule-set revision each runs."""
        members = await self._client.smembers(workers_key(self._namespace))
        names = sorted(_text(m) for m in members)
        if not names:
            return {}
        reports = await self._client.mget([report_key(self._namespace, n) for n in names])
        return {
            name: int(orjson.loads(report)["revision"])
            for name, report in zip(names, reports, strict=True)
            if report is not None
        }

    async def _stream(self, key: str, dead_key: str) -> tuple[StreamState, float]:
        """The stream's state, and the age of its first entry (0 when empty)."""
        pipe = self._client.pipeline(transaction=False)
        pipe.time()
        pipe.xlen(key)
        pipe.xlen(dead_key)
        pipe.xinfo_groups(key)
        now, length, dead, groups = await pipe.execute(raise_on_error=False)
        for reply in (now, length, dead):
            if isinstance(reply, Exception):
                raise reply
        if isinstance(groups, ResponseError):
            groups = []  # no stream yet
        elif isinstance(groups, Exception):
            raise groups
        now_ms = int(now[0]) * 1000 + int(now[1]) // 1000
        pipe = self._client.pipeline(transaction=False)
        pipe.xrange(key, "-", "+", count=1)
        for group in groups:
            pipe.xpending(key, group["name"])
            pipe.xrange(key, f"({_text(group['last-delivered-id'])}", "+", count=1)
        replies = await pipe.execute()
        first_age = _age_s(now_ms, replies[0][0][0]) if replies[0] else 0.0
        states = {
            _text(group["name"]): _group(group, replies[1 + 2 * i], replies[2 + 2 * i], now_ms)
            for i, group in enumerate(groups)
        }
        return StreamState(int(length), int(dead), states), first_age


def _group(
    info: dict[str, Any], pending: dict[str, Any], after: list[Any], now_ms: int
) -> GroupState:
    waiting = int(pending["pending"])
    if waiting and pending["min"]:
        oldest = _age_s(now_ms, pending["min"])
    elif after:
        oldest = _age_s(now_ms, after[0][0])
    else:
        oldest = 0.0
    # Redis 7 counts the lag (None when it cannot tell); older servers send no such field.
    lag: int | None = info.get("lag", None if after else 0)
    return GroupState(int(info["consumers"]), waiting, lag, oldest)


def _ingest_lag(events: StreamState, first_age: float) -> float:
    group = events.groups.get(PERSISTERS)
    return first_age if group is None else group.oldest_age_s  # no group: nothing is stored


def _age_s(now_ms: int, entry_id: bytes | str) -> float:
    ms = int(_text(entry_id).partition("-")[0])
    return max(0, now_ms - ms) / 1000


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
