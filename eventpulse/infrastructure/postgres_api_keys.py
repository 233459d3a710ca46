"""PostgreSQL adapters of the API keys (table `api_keys`, migration 0005).

`PostgresKeyReader` is what the API reads on a cache miss (async, pooled); `PostgresKeyRegistry`
is what `eventpulse keys ...` writes (sync, one connection per command).

A schema without the table (an API started before `eventpulse db upgrade` reached 0005) holds no
key: the reader answers so, and the API stays open to loopback clients only, rather than failing
every request.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Final

import psycopg
from psycopg.rows import tuple_row
from psycopg_pool import AsyncConnectionPool

from eventpulse.domain.access import ApiKey, Scope, StoredKey
from eventpulse.domain.errors import StoreUnavailable
from eventpulse.infrastructure.postgres_pool_errors import store_errors

log = logging.getLogger("eventpulse.access")

_KEY: Final = "key_id, name, scopes, rate_per_s, created_at, revoked_at"
_FIND: Final = f"SELECT {_KEY}, salt, digest FROM api_keys WHERE key_id = %s"
_ANY_ACTIVE: Final = "SELECT EXISTS (SELECT 1 FROM api_keys WHERE revoked_at IS NULL)"
_INSERT: Final = (
    f"INSERT INTO api_keys ({_KEY}, salt, digest) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
)
_ALL: Final = f"SELECT {_KEY} FROM api_keys ORDER BY created_at, key_id"
_REVOKE: Final = f"""
UPDATE api_keys SET revoked_at = %s WHERE key_id = %s AND revoked_at IS NULL RETURNING {_KEY}
"""


class PostgresKeyReader:
    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool

    async def find(self, key_id: str) -> StoredKey | None:
        row = await self._one(_FIND, (key_id,))
        return None if row is None else StoredKey(_key(row[:6]), bytes(row[6]), bytes(row[7]))

    async def any_active(self) -> bool:
        row = await self._one(_ANY_ACTIVE, ())
        return bool(row and row[0])

    async def _one(self, query: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        try:
            async with (
                store_errors(),
                self._pool.connection() as conn,
                conn.cursor(row_factory=tuple_row) as cur,
            ):
                await cur.execute(query, params)
                row: tuple[Any, ...] | None = await cur.fetchone()
                return row
        except psycopg.errors.UndefinedTable:
            log.warning("no api_keys table (run `eventpulse db upgrade`): no API key exists")
            return None


class PostgresKeyRegistry:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    @classmethod
    @contextmanager
    def connect(cls, dsn: str) -> Iterator[PostgresKeyRegistry]:
        """`StoreUnavailable` when PostgreSQL cannot be reached."""
        try:
            conn = psycopg.connect(dsn, autocommit=True, connect_timeout=10)
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(str(exc).strip()) from exc
        with conn:
            yield cls(conn)

    def add(self, stored: StoredKey) -> None:
        k = stored.key
        scopes = sorted(k.scopes)
        row = (k.key_id, k.name, scopes, k.rate_per_s, k.created_at, k.revoked_at)
        with _schema(), self._conn.transaction():
            self._conn.execute(_INSERT, (*row, stored.salt, stored.digest))

    def all(self) -> list[ApiKey]:
        with _schema(), self._conn.cursor(row_factory=tuple_row) as cur:
            return [_key(row) for row in cur.execute(_ALL).fetchall()]

    def revoke(self, key_id: str, at: datetime) -> ApiKey | None:
        with _schema(), self._conn.transaction(), self._conn.cursor(row_factory=tuple_row) as cur:
            row = cur.execute(_REVOKE, (at, key_id)).fetchone()
        return None if row is None else _key(row)


@contextmanager
def _schema() -> Iterator[None]:
    try:
        yield
    except psycopg.errors.UndefinedTable as exc:
        raise StoreUnavailable("no api_keys table: run `eventpulse db upgrade` first") from exc
    except psycopg.OperationalError as exc:
        raise StoreUnavailable(str(exc).strip() or type(exc).__name__) from exc


def _key(row: tuple[Any, ...]) -> ApiKey:
    key_id, name, scopes, rate_per_s, created_at, revoked_at = row
    return ApiKey(
        key_id, name, frozenset(Scope(s) for s in scopes), rate_per_s, created_at, revoked_at
    )
