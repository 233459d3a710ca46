"""Delivery records in PostgreSQL (`notification_deliveries`, migrations 0001 and 0004).

At most one `sent` row per anomaly and channel (a unique partial index): a success recorded
a second time — by a replica that held the same anomaly, or after a crash between a send and
its record — is recorded as `duplicate` instead, so the repeat is visible.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from eventpulse.application.notify_ports import FINAL_STATUSES, Attempt, Prior
from eventpulse.infrastructure.postgres_pool_errors import store_errors

_PRIOR: Final = """
SELECT anomaly_id, channel, max(attempt),
       min(status) FILTER (WHERE status = ANY(%(final)s))
FROM notification_deliveries
WHERE anomaly_id = ANY(%(ids)s)
GROUP BY anomaly_id, channel
"""
_INSERT: Final = """
INSERT INTO notification_deliveries
    (anomaly_id, channel, route, attempt, status, error, latency_ms, details)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
"""
_INSERT_SENT: Final = (
    _INSERT + " ON CONFLICT (anomaly_id, channel) WHERE status = 'sent' DO NOTHING"
    " RETURNING delivery_id"
)


def _params(attempt: Attempt, status: str | None = None) -> tuple[Any, ...]:
    return (
        attempt.anomaly_id,
        attempt.channel,
        attempt.route,
        attempt.attempt,
        status or attempt.status,
        attempt.error,
        attempt.latency_ms,
        Jsonb(dict(attempt.details)),
    )


class PostgresDeliveryLog:
    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool

    async def prior(self, anomaly_ids: Sequence[str]) -> dict[tuple[str, str], Prior]:
        if not anomaly_ids:
            return {}
        async with store_errors(), self._pool.connection() as conn:
            cursor = await conn.execute(
                _PRIOR, {"ids": list(anomaly_ids), "final": sorted(FINAL_STATUSES)}
            )
            rows = await cursor.fetchall()
        return {(row[0], row[1]): Prior(row[3], int(row[2])) for row in rows}

    async def record(self, attempts: Sequence[Attempt]) -> None:
        if not attempts:
            return
        async with store_errors(), self._pool.connection() as conn, conn.cursor() as cursor:
            await cursor.executemany(_INSERT, [_params(a) for a in attempts])

    async def record_sent(self, attempt: Attempt) -> bool:
        async with store_errors(), self._pool.connection() as conn:
            cursor = await conn.execute(_INSERT_SENT, _params(attempt, "sent"))
            if await cursor.fetchone() is not None:
                return True
            await conn.execute(_INSERT, _params(attempt, "duplicate"))
            return False
