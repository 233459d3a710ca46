"""Hot reload, API side: announce a stored change, then wait for every live worker to run it.

A worker is live while its report key exists (its heartbeat refreshes it; a worker that died
stops being waited for once the key expires). A live worker confirms revision R when its report
says it runs revision R or later. The wait wakes on each confirmation published by a worker and
re-reads the reports at least every quarter second (a report key may expire in the meantime).
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from eventpulse.domain.errors import StreamUnavailable
from eventpulse.infrastructure.redis_reload import (
    confirmed_channel,
    report_key,
    rules_channel,
    workers_key,
)

POLL_S: Final = 0.25


class RedisReloadAnnouncer:
    """The `RuleChangeAnnouncer` port on the API's Redis client."""

    def __init__(self, client: Redis, namespace: str, timeout_s: float) -> None:
        self._client = client
        self._namespace = namespace
        self._timeout_s = timeout_s

    async def announce(self, rule_id: str, version: int | None, revision: int) -> list[str]:
        message = orjson.dumps({"rule_id": rule_id, "version": version, "revision": revision})
        try:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(confirmed_channel(self._namespace))  # before publishing
                await self._client.publish(rules_channel(self._namespace), message)
                return await self._wait(pubsub, revision)
            finally:
                await pubsub.aclose()  # type: ignore[no-untyped-call]
        except (RedisError, OSError) as exc:
            raise StreamUnavailable(
                f"the change is stored, but it could not be announced to the workers ({exc});"
                " they load it by their periodic resync, and repeating the write waits for them"
            ) from exc

    async def _wait(self, pubsub: Any, revision: int) -> list[str]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout_s
        while True:
            laggards = await self.laggards(revision)
            remaining = deadline - loop.time()
            if not laggards or remaining <= 0:
                return laggards
            await pubsub.get_message(timeout=min(remaining, POLL_S))

    async def laggards(self, revision: int) -> list[str]:
        """The live workers whose report is below `revision` (sorted names)."""
        members = await self._client.smembers(workers_key(self._namespace))
        names = sorted(m.decode() if isinstance(m, bytes) else m for m in members)
        if not names:
            return []
        reports = await self._client.mget([report_key(self._namespace, n) for n in names])
        gone = [name for name, report in zip(names, reports, strict=True) if report is None]
        if gone:
            await self._client.srem(workers_key(self._namespace), *gone)
        return [
            name
            for name, report in zip(names, reports, strict=True)
            if report is not None and orjson.loads(report)["revision"] < revision
        ]
