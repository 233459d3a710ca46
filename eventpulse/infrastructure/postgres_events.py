"""PostgreSQL adapters for events: the worker's idempotent batch insert and the API's reads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import orjson
import psycopg
from psycopg.rows import tuple_row
from psycopg.types.json import set_json_dumps
from psycopg_pool import AsyncConnectionPool

from eventpulse.application.ports import EventQuery, RejectedEvents
from eventpulse.domain.errors import StoreUnavailable
from eventpulse.domain.events import Event
from eventpulse.infrastructure.postgres_reads import fetch_all, page_sql

# Per batch: binary COPY into a per-connection staging table, then one idempotent INSERT that
# returns only the ids that were new. Measured against `unnest` arrays (text and binary) and
# pipelined executemany, COPY is the fastest (benchmarks/RESULTS.md). The staging table is
# emptied at commit (ON COMMIT DELETE ROWS), so a failed batch leaves nothing behind.
_CREATE_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS events_staging (LIKE events) ON COMMIT DELETE ROWS
"""
_COLUMNS = "event_id, event_type, source, ts, payload, received_at"
_STORED = f"{_COLUMNS}, arrival_ms, arrival_seq, arrival_idx"
_COPY = f"COPY events_staging ({_STORED}) FROM STDIN (FORMAT BINARY)"
_COPY_TYPES = [
    "uuid",
    "text",
    "text",
    "timestamptz",
    "jsonb",
    "timestamptz",
    "int8",
    "int8",
    "int4",
]
_INSERT_FROM_STAGING = f"""
INSERT INTO events ({_STORED}) SELECT {_STORED} FROM events_staging
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id
"""


def _orjson_text(value: Any) -> str:
    return orjson.dumps(value).decode()


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
                with cur.copy(_COPY) as copy:
                    copy.set_types(_COPY_TYPES)
                    for e in events:
                        copy.write_row(
                            (e.event_id, e.event_type, e.source, e.ts, e.payload, e.received_at,
                             *e.arrival)
                        )  # fmt: skip
                cur.execute(_INSERT_FROM_STAGING)
                inserted = {row[0] for row in cur.fetchall()}
            conn.commit()
            return inserted
        except psycopg.Error as exc:
            self._recover()
            message = str(exc).strip() or type(exc).__name__
            if _is_transient(exc):
                raise StoreUnavailable(message) from exc
            if _is_about_the_data(exc):
                raise RejectedEvents(message) from exc
            raise  # a bug (e.g. SQL the server does not understand): crash loudly

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def _connection(self) -> psycopg.Connection[tuple[Any, ...]]:
        if self._conn is None or self._conn.closed:
            conn = psycopg.connect(
                self._dsn, connect_timeout=self._connect_timeout, row_factory=tuple_row
            )
            set_json_dumps(_orjson_text, context=conn)
            conn.execute(_CREATE_STAGING)
            conn.commit()
            self._conn = conn
        return self._conn

    def _recover(self) -> None:
        """Roll back, or drop a connection that cannot even do that."""
        if self._conn is None or self._conn.closed or self._conn.broken:
            self.close()
            return
        try:
            self._conn.rollback()
        except psycopg.Error:
            self.close()


# SQLSTATE classes that say "try again later": connection exceptions, operator intervention
# (shutdown, admin/crash restarts), insufficient resources, transaction rollbacks (serialisation,
# deadlock), and a read-only transaction (a failover in progress).
_TRANSIENT_SQLSTATES = ("08", "57P", "53", "40", "25006")
# Classes that say "this data cannot be stored": data exceptions, integrity constraints,
# program limits (a value too large for an index row, say).
_DATA_SQLSTATES = ("22", "23", "54")


def _is_transient(exc: psycopg.Error) -> bool:
    if exc.sqlstate is None:  # no answer from the server at all: the connection failed
        return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)
    return exc.sqlstate.startswith(_TRANSIENT_SQLSTATES)


def _is_about_the_data(exc: psycopg.Error) -> bool:
    return exc.sqlstate is not None and exc.sqlstate.startswith(_DATA_SQLSTATES)


class PostgresEventReader:
    """The API's read side, on a small async pool opened at start-up."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool

    async def get(self, event_id: UUID) -> Event | None:
        try:
            async with self._pool.connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
                await cur.execute(f"SELECT {_STORED} FROM events WHERE event_id = %s", (event_id,))
                row = await cur.fetchone()
        except (psycopg.OperationalError, TimeoutError) as exc:
            raise StoreUnavailable(str(exc).strip() or type(exc).__name__) from exc
        if row is None:
            return None
        return _stored_event(row)

    async def list(self, query: EventQuery) -> list[Event]:
        sql, params = events_page_sql(query)
        return [_stored_event(row) for row in await fetch_all(self._pool, sql, params)]


def events_page_sql(query: EventQuery) -> tuple[str, list[Any]]:
    """The SQL of `PostgresEventReader.list` and its parameters (see postgres_reads)."""
    return page_sql(
        f"SELECT {_STORED} FROM events",
        "event_id",
        equal=[("event_type", query.event_type), ("source", query.source)],
        since=query.since,
        until=query.until,
        after=query.after,
        limit=query.limit,
    )


def _stored_event(row: tuple[Any, ...]) -> Event:
    event_id, event_type, source, ts, payload, received_at, ms, seq, idx = row
    return Event(event_id, event_type, source, ts, payload, received_at, (ms, seq, idx))
