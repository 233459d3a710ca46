"""What the live workers say they run: their reports (see `redis_reload`), read for people.

A report is the worker's name, the rule-set revision it runs and the version of each rule it
runs; it lives while the worker's heartbeat refreshes it, so the reports read here are those of
the live workers.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from redis.asyncio import Redis

from eventpulse.infrastructure.redis_reload import report_key, workers_key


@dataclass(frozen=True, slots=True)
class WorkerReport:
    worker: str
    revision: int
    versions: dict[str, int]


async def live_worker_reports(client: Redis, namespace: str) -> list[WorkerReport]:
    """The reports of the live workers, by name."""
    members = await client.smembers(workers_key(namespace))
    names = sorted(m.decode() if isinstance(m, bytes) else str(m) for m in members)
    if not names:
        return []
    reports = await client.mget([report_key(namespace, name) for name in names])
    found: list[WorkerReport] = []
    for name, report in zip(names, reports, strict=True):
        if report is None:
            continue  # its key expired: the worker is gone
        document = orjson.loads(report)
        found.append(WorkerReport(name, int(document["revision"]), dict(document["versions"])))
    return found
