"""Stored events for backtests: a time range in arrival order, streamed in bounded chunks.

A server-side (named) cursor reads the range (PostgreSQL picks `events_ts_idx` or, for wide
ranges, `events_arrival_idx`, migration 0003) in arrival order, sorting in the server if it
must (spilling to disk past `work_mem`, not to this process); the API holds one chunk at a time.
The live evaluator reads stored events with the same columns (`STORED_COLUMNS`, `stored_pair`).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from datetime import datetime
from typing import Any, Final

import psycopg
from psycopg.rows import tuple_row
from psycopg_pool import AsyncConnectionPool

from eventpulse.domain.engine import Arrival
from eventpulse.domain.errors import StoreUnavailable
from eventpulse.domain.events import Event

STORED_COLUMNS: Final = """event_id, event_type, source, ts, payload, received_at,
       arrival_ms, arrival_seq, arrival_idx"""
RANGE_IN_ARRIVAL_ORDER: Final = f"""
SELECT {STORED_COLUMNS}
FROM events
WHERE ts >= %s AND ts < %s
ORDER BY arrival_ms, arrival_seq, arrival_idx, event_id
"""


class PostgresEventHistory:
    """The `EventHistory` port on the API's async pool (one connection per running backtest)."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool

    async def chunks(
        self, since: datetime, until: datetime, size: int
    ) -> AsyncGenerator[Sequence[tuple[Arrival, Event]], None]:
        try:
            async with self._pool.connection() as conn:
                cursor = conn.cursor("backtest_history", row_factory=tuple_row)
                async with cursor as cur:
                    cur.itersize = size
                    await cur.execute(RANGE_IN_ARRIVAL_ORDER, (since, until))
                    while rows := await cur.fetchmany(size):
                        yield [stored_pair(row) for row in rows]
        except (psycopg.OperationalError, TimeoutError) as exc:
            raise StoreUnavailable(str(exc).strip() or type(exc).__name__) from exc


def stored_pair(row: tuple[Any, ...]) -> tuple[Arrival, Event]:
    """A row of `STORED_COLUMNS` as the engine's `(arrival, event)` pair."""
    arrival = (row[6], row[7], row[8])
    event = Event.with_epochs(row[0], row[1], row[2], row[3], row[4], row[5], arrival)
    return arrival, event
