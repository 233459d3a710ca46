"""PostgreSQL adapter of the SilenceRepository (the silences API): table `silences`
(migration 0004).

`matchers` holds `Silence.matchers()` as it is (`{"rule_id": [...], "severity": [...],
"group": {...}}`, keys omitted when empty): the notifier reads the same table
(`postgres_active_silences.py`). A delete sets `deleted_at`; the row stays for the record.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, Final

import psycopg
from psycopg.rows import tuple_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from eventpulse.application.silences import StoredSilence
from eventpulse.domain.silences import Silence
from eventpulse.infrastructure.postgres_pool_errors import store_errors

Cursor = psycopg.AsyncCursor[tuple[Any, ...]]

_COLUMNS: Final = "silence_id, matchers, starts_at, ends_at, comment, created_by, created_at"
_INSERT: Final = f"INSERT INTO silences ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s)"
_GET: Final = f"SELECT {_COLUMNS} FROM silences WHERE silence_id = %s AND deleted_at IS NULL"
_DELETE: Final = """
UPDATE silences SET deleted_at = %s WHERE silence_id = %s AND deleted_at IS NULL
RETURNING silence_id
"""


class PostgresSilenceRepository:
    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool

    async def add(self, silence: Silence, created_at: datetime) -> None:
        s = silence
        row = (s.silence_id, Jsonb(s.matchers()), s.starts_at, s.ends_at, s.comment, s.created_by)
        async with self._cursor() as cur:
            await cur.execute(_INSERT, (*row, created_at))

    async def get(self, silence_id: str) -> StoredSilence | None:
        async with self._cursor() as cur:
            await cur.execute(_GET, (silence_id,))
            row = await cur.fetchone()
        return None if row is None else _stored(row)

    async def list(
        self, *, ending_after: datetime | None, limit: int, after: tuple[datetime, str] | None
    ) -> list[StoredSilence]:
        where = ["deleted_at IS NULL"]
        params: list[Any] = []
        if ending_after is not None:
            where.append("ends_at > %s")
            params.append(ending_after)
        if after is not None:
            where.append("(created_at, silence_id) > (%s, %s::uuid)")
            params += list(after)
        query = (
            f"SELECT {_COLUMNS} FROM silences WHERE {' AND '.join(where)}"
            " ORDER BY created_at, silence_id LIMIT %s"
        )
        async with self._cursor() as cur:
            await cur.execute(query, (*params, limit))
            rows = await cur.fetchall()
        return [_stored(row) for row in rows]

    async def delete(self, silence_id: str, at: datetime) -> bool:
        async with self._cursor() as cur:
            await cur.execute(_DELETE, (at, silence_id))
            return await cur.fetchone() is not None

    @asynccontextmanager
    async def _cursor(self) -> AsyncIterator[Cursor]:
        async with (
            store_errors(),
            self._pool.connection() as conn,
            conn.transaction(),
            conn.cursor(row_factory=tuple_row) as cur,
        ):
            yield cur


def _stored(row: tuple[Any, ...]) -> StoredSilence:
    silence_id, matchers, starts_at, ends_at, comment, created_by, created_at = row
    silence = Silence(
        silence_id=str(silence_id),
        starts_at=starts_at,
        ends_at=ends_at,
        rule_ids=tuple(matchers.get("rule_id", ())),
        severities=tuple(matchers.get("severity", ())),
        group=dict(matchers.get("group", {})),
        comment=comment,
        created_by=created_by,
    )
    return StoredSilence(silence, created_at)
