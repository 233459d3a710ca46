"""PostgreSQL adapter of the AnomalyReader: the API's reads of the `anomalies` table.

`group_key` holds the anomaly's `group`; `message` is NOT NULL, so an anomaly without one is
stored as '' and read back as None, as the engine (and a backtest) gives it. Lists page on
(ts, anomaly_id) through `anomalies_ts_idx`, or `anomalies_rule_ts_idx` /
`anomalies_severity_ts_idx` when filtered (postgres_reads). `anomaly_id` compares in the
database's collation, as its indexes do; ids are lowercase hex digests, which every collation
orders alike.
"""

from __future__ import annotations

from typing import Any, Final

from psycopg_pool import AsyncConnectionPool

from eventpulse.application.ports import AnomalyQuery, StoredAnomaly
from eventpulse.domain.engine import Anomaly
from eventpulse.infrastructure.postgres_reads import fetch_all, page_sql

_SELECT: Final = """
SELECT anomaly_id, rule_id, rule_version, severity, group_key, window_start, window_end,
       ts, value, message, details, created_at
FROM anomalies"""


class PostgresAnomalyReader:
    """The API's read side of anomalies, on its async pool."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool

    async def get(self, anomaly_id: str) -> StoredAnomaly | None:
        rows = await fetch_all(self._pool, f"{_SELECT} WHERE anomaly_id = %s", (anomaly_id,))
        return _stored_anomaly(rows[0]) if rows else None

    async def list(self, query: AnomalyQuery) -> list[StoredAnomaly]:
        sql, params = anomalies_page_sql(query)
        return [_stored_anomaly(row) for row in await fetch_all(self._pool, sql, params)]


def anomalies_page_sql(query: AnomalyQuery) -> tuple[str, list[Any]]:
    """The SQL of `PostgresAnomalyReader.list` and its parameters."""
    severity = None if query.severity is None else query.severity.value
    return page_sql(
        _SELECT,
        "anomaly_id",
        equal=[("rule_id", query.rule_id), ("severity", severity)],
        since=query.since,
        until=query.until,
        after=query.after,
        limit=query.limit,
    )


def _stored_anomaly(row: tuple[Any, ...]) -> StoredAnomaly:
    anomaly_id, rule_id, version, severity, group, start, end, ts, value, message = row[:10]
    anomaly = Anomaly(
        anomaly_id=anomaly_id,
        rule_id=rule_id,
        rule_version=version,
        severity=severity,
        group=group,
        window_start=start,
        window_end=end,
        ts=ts,
        value=value,
        message=message or None,  # the column is NOT NULL: the writer stores None as ''
        details=row[10],
    )
    return StoredAnomaly(anomaly, created_at=row[11])
