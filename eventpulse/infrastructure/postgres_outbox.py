"""The anomaly outbox in PostgreSQL: unpublished anomalies by `seq` (migration 0004)."""

from __future__ import annotations

from typing import Any, Final

import orjson
from psycopg.types.json import set_json_loads

from eventpulse.application.anomaly_feed import Document
from eventpulse.application.backtest import anomaly_document
from eventpulse.domain.engine import Anomaly
from eventpulse.infrastructure.postgres_errors import Connection, OwnConnection, dropping_connection

_UNPUBLISHED: Final = """
SELECT anomaly_id, rule_id, rule_version, severity, group_key, window_start, window_end, ts,
       value, message, details, created_at
FROM anomalies WHERE published_at IS NULL ORDER BY seq LIMIT %s
"""
_MARK: Final = "UPDATE anomalies SET published_at = now() WHERE anomaly_id = ANY(%s)"


class PostgresAnomalyOutbox:
    """One lazily opened connection, used by the evaluation thread."""

    def __init__(self, dsn: str, connect_timeout: int = 5) -> None:
        self._own = OwnConnection(dsn, connect_timeout=connect_timeout, configure=_orjson_reads)

    def unpublished(self, limit: int) -> list[Document]:
        with dropping_connection(self.close):
            rows = self._own.get().execute(_UNPUBLISHED, (limit,)).fetchall()
        return [_document(row) for row in rows]

    def mark_published(self, anomaly_ids: list[str]) -> None:
        with dropping_connection(self.close):
            self._own.get().execute(_MARK, (anomaly_ids,))

    def close(self) -> None:
        self._own.close()


def _orjson_reads(conn: Connection) -> None:
    set_json_loads(orjson.loads, context=conn)


def _document(row: tuple[Any, ...]) -> Document:
    anomaly_id, rule_id, version, severity, group, start, end, ts, value, message, details, at = row
    anomaly = Anomaly(
        anomaly_id,
        rule_id,
        version,
        severity,
        group,
        start,
        end,
        ts,
        value,
        message or None,
        details,
    )
    return anomaly_document(anomaly, at)
