"""What the API's PostgreSQL list reads share: one keyset page's SQL, and fetching its rows.

A page is `WHERE <equalities> AND ts >= since AND ts < until AND (ts, id) > after ORDER BY ts,
id LIMIT n`, with only the conditions asked for. Each list table has a btree index on
`(ts, id)` and one on `(column, ts, id)` per equality filter (migration 0001), so the page is
one index range scan that stops after `n` rows, whatever the table's size: an equality pins
the leading column, and the row comparison starts the scan at the cursor's position.
tests/integration/test_query_plans.py checks the plans.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
import psycopg
from psycopg.rows import tuple_row
from psycopg.types.json import set_json_loads
from psycopg_pool import AsyncConnectionPool

from eventpulse.domain.errors import StoreUnavailable


def page_sql(
    select: str,
    key: str,
    *,
    equal: Sequence[tuple[str, object | None]] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    after: tuple[datetime, object] | None = None,
    limit: int,
) -> tuple[str, list[Any]]:
    """`select` (`SELECT ... FROM table`) narrowed to one page in (ts, `key`) order, and its
    parameters. `equal` pairs a column with a value; None leaves the column unfiltered. Column
    names come from the adapters' constants, never from a request."""
    conditions: list[str] = []
    params: list[Any] = []
    for column, value in equal:
        if value is not None:
            conditions.append(f"{column} = %s")
            params.append(value)
    if since is not None:
        conditions.append("ts >= %s")
        params.append(since)
    if until is not None:
        conditions.append("ts < %s")
        params.append(until)
    if after is not None:
        conditions.append(f"(ts, {key}) > (%s, %s)")
        params += after
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    params.append(limit)
    return f"{select}{where} ORDER BY ts, {key} LIMIT %s", params


async def fetch_all(
    pool: AsyncConnectionPool[Any], sql: str, params: Sequence[Any]
) -> list[tuple[Any, ...]]:
    """The rows of one read; `StoreUnavailable` when PostgreSQL cannot be reached."""
    try:
        async with pool.connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
            await cur.execute(sql, params)
            rows: list[tuple[Any, ...]] = await cur.fetchall()
            return rows
    except (psycopg.OperationalError, TimeoutError) as exc:
        raise StoreUnavailable(str(exc).strip() or type(exc).__name__) from exc


async def load_json_like_the_writers(conn: psycopg.AsyncConnection[Any]) -> None:
    """A pool's `configure`: read jsonb with orjson, as the worker's reads do. Ingestion parses
    an integer beyond 64 bits as a float (orjson), jsonb prints `1e20` as
    `100000000000000000000`, and the standard library would load that as an int, which orjson
    cannot encode again: the answer would be a 500 instead of the number stored."""
    set_json_loads(orjson.loads, context=conn)
