"""PostgreSQL adapters for events: the worker's idempotent batch insert and the API's reads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import orjson
import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import tuple_row
from psycopg_pool import AsyncConnectionPool

from eventpulse.application.ports import RejectedEvents
from eventpulse.domain.errors import StoreUnavailable
from eventpulse.domain.events import Event

# One statement per batch: arrays in, only the ids that were new out. `unnest` beat COPY into a
# staging table and pipelined executemany at our batch sizes (benchmarks/RESULTS.md).
INSERT_NEW_EVENTS = """
INSERT INTO events (event_id, event_type, source, ts, payload, received_at)
SELECT * FROM unnest(
    %s::uuid[], %s::text[], %s::text[], %s::timestamptz[], %s::jsonb[], %s::timestamptz[]
)
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id
"""

_SELECT_COLUMNS = "event_id, event_type, source, ts, payload, received_at"


def event_columns(events: Sequence[Event]) -> list[list[Any]]:
    """The six column arrays for `INSERT_NEW_EVENTS`."""
    return [
        [e.event_id for e in events],
        [e.event_type for e in events],
        [e.source for e in events],
        [e.ts for e in events],
        [orjson.dumps(e.payload).decode() for e in events],
        [e.received_at for e in events],
    ]


class PostgresEventStore:
    """The worker's store. Connects lazily and reconnects after any connection failure."""

    def __init__(self, dsn: str, connect_timeout: int = 5) -> None:
        self._dsn = dsn
        self._connect_timeout = connect_timeout
        self._conn: psycopg.Connection[tuple[Any, ...]] | None = None

    def insert_new(self, events: Sequence[Event]) -> set[UUID]:
        if not events:
            return set()
        try:
            conn = self._connection()
            with conn.cursor() as cur:
                cur.execute(INSERT_NEW_EVENTS, event_columns(events))
                inserted = {row[0] for row in cur.fetchall()}
            conn.commit()
            return inserted
        except (pg_errors.DataError, pg_errors.IntegrityError) as exc:
            self._rollback()
            raise RejectedEvents(str(exc).strip()) from exc
        except psycopg.OperationalError as exc:
            self.close()
            raise StoreUnavailable(str(exc).strip() or type(exc).__name__) from exc

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def _connection(self) -> psycopg.Connection[tuple[Any, ...]]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(
                self._dsn, connect_timeout=self._connect_timeout, row_factory=tuple_row
            )
        return self._conn

    def _rollback(self) -> None:
        if self._conn is not None and not self._conn.closed:
            self._conn.rollback()


class PostgresEventReader:
    """The API's read side, on a small async pool opened at start-up."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool

    async def get(self, event_id: UUID) -> Event | None:
        try:
            async with self._pool.connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
                await cur.execute(
                    f"SELECT {_SELECT_COLUMNS} FROM events WHERE event_id = %s", (event_id,)
                )
                row = await cur.fetchone()
        except (psycopg.OperationalError, TimeoutError) as exc:
            raise StoreUnavailable(str(exc).strip() or type(exc).__name__) from exc
        if row is None:
            return None
        return Event(*row)
