"""PostgreSQL side of `GET /api/v1/stats`: counts over a window, and the evaluation lag.

Each count is one index range scan over the window's rows, never a scan of a whole table:
- events: `received_at` (the API's clock when it accepted the event) has no index of its own,
  and the hottest table gets none for stats: `arrival_ms` (Redis's clock when it appended the
  event, a moment later) is the leading column of `events_arrival_idx` (migration 0003). The
  range `arrival_ms >= since - ARRIVAL_SLACK` narrows the scan; `received_at` then decides, so
  the count is exact unless the two clocks disagree by more than the slack;
- anomalies and delivery attempts: by `created_at`, on the indexes of migration 0006;
- the evaluation lag: the events after the cursor on `events_arrival_idx`, counted up to a cap.
Statements are never prepared (a generic plan cannot see how narrow the window is), and a
statement timeout bounds the whole read.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

from psycopg.rows import tuple_row
from psycopg_pool import AsyncConnectionPool

from eventpulse.application.stats import EventField, StoredCounts
from eventpulse.infrastructure.postgres_pool_errors import store_errors

ARRIVAL_SLACK: Final = timedelta(minutes=5)
STATEMENT_TIMEOUT_MS: Final = 5_000

_EVENT_COLUMNS: Final[dict[str, str]] = {"event_type": "event_type", "source": "source"}
_EVENTS: Final = """
SELECT {column}, count(*) FROM events
WHERE arrival_ms >= %(since_ms)s AND received_at >= %(since)s AND received_at < %(until)s
GROUP BY 1
"""
ANOMALIES_SQL: Final = """
SELECT rule_id, severity, count(*) FROM anomalies
WHERE created_at >= %(since)s AND created_at < %(until)s
GROUP BY 1, 2
"""
DELIVERIES_SQL: Final = """
SELECT channel, status, count(*) FROM notification_deliveries
WHERE created_at >= %(since)s AND created_at < %(until)s
GROUP BY 1, 2
"""
EVALUATION_LAG_SQL: Final = """
SELECT c.arrival_ms, c.arrival_seq, c.arrival_idx, (
    SELECT count(*) FROM (
        SELECT 1 FROM events e
        WHERE (e.arrival_ms, e.arrival_seq, e.arrival_idx)
            > (c.arrival_ms, c.arrival_seq, c.arrival_idx)
        LIMIT %(cap)s
    ) AS behind
)
FROM evaluation_cursor c
"""


def events_sql(by: EventField) -> str:
    return _EVENTS.format(column=_EVENT_COLUMNS[by])  # a fixed column name, never user text


def window_params(since: datetime, until: datetime) -> dict[str, Any]:
    since_ms = int((since - ARRIVAL_SLACK).timestamp() * 1000)
    return {"since": since, "until": until, "since_ms": since_ms}


class PostgresStats:
    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool

    async def counts(
        self, by: EventField, since: datetime, until: datetime, lag_cap: int
    ) -> StoredCounts:
        window = window_params(since, until)
        async with (
            store_errors(),
            self._pool.connection() as conn,
            conn.transaction(),
            conn.cursor(row_factory=tuple_row) as cur,
        ):
            await cur.execute(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}")
            await cur.execute(events_sql(by), window, prepare=False)
            events = {str(key): int(n) for key, n in await cur.fetchall()}
            await cur.execute(ANOMALIES_SQL, window, prepare=False)
            anomalies = {(rule, severity): int(n) for rule, severity, n in await cur.fetchall()}
            await cur.execute(DELIVERIES_SQL, window, prepare=False)
            deliveries = {(ch, status): int(n) for ch, status, n in await cur.fetchall()}
            await cur.execute(EVALUATION_LAG_SQL, {"cap": lag_cap}, prepare=False)
            row = await cur.fetchone()
        cursor, lag = ((0, 0, 0), 0) if row is None else ((row[0], row[1], row[2]), int(row[3]))
        return StoredCounts(events, anomalies, deliveries, cursor, lag)
