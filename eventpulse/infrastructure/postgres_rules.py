"""PostgreSQL adapter of the RuleRepository: `rules` (one row per id, its live version) and
`rule_versions` (immutable documents).

Each write is one transaction that locks the rule's row (`FOR UPDATE`) before choosing the next
version, so concurrent writers of one rule queue up and get consecutive versions; the row and
its new version commit together. `rules.enabled` mirrors the live document's `enabled` for
loaders that want only the enabled rules.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import tuple_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from eventpulse.application.rules import Document, Edit, RuleVersion, StoredRule
from eventpulse.domain.errors import Conflict, NotFound, StoreUnavailable

Cursor = psycopg.AsyncCursor[tuple[Any, ...]]

_LIVE = """
SELECT r.rule_id, r.version, v.document, r.created_at, v.created_at
FROM rules r JOIN rule_versions v USING (rule_id, version)
WHERE r.deleted_at IS NULL
"""
# Ids are compared in the "C" collation (code point order), whatever the database's default,
# so the keyset order is the one clients see and a cursor means the same on every server.
_PAGE = f"""{_LIVE} AND r.rule_id COLLATE "C" > %s
ORDER BY r.rule_id COLLATE "C" LIMIT %s"""
_INSERT_RULE = """
INSERT INTO rules (rule_id, version, enabled) VALUES (%s, 1, %s)
ON CONFLICT (rule_id) DO NOTHING
RETURNING version, created_at
"""
_REVIVE = """
UPDATE rules SET version = version + 1, enabled = %s, deleted_at = NULL,
    created_at = now(), updated_at = now()
WHERE rule_id = %s
RETURNING version, created_at
"""
# The row is locked alone, then its live version read by a second statement: a locking join
# would re-check the join after waiting for a concurrent writer, against the version row of its
# old snapshot, and drop the rule as if it did not exist.
_LOCK = "SELECT version, created_at FROM rules WHERE rule_id = %s AND deleted_at IS NULL FOR UPDATE"
_DOCUMENT = "SELECT document, created_at FROM rule_versions WHERE rule_id = %s AND version = %s"
_ADVANCE = """
UPDATE rules SET version = %s, enabled = %s, updated_at = now() WHERE rule_id = %s
"""
_INSERT_VERSION = """
INSERT INTO rule_versions (rule_id, version, document, note) VALUES (%s, %s, %s, %s)
RETURNING created_at
"""
_DELETE = """
UPDATE rules SET deleted_at = now(), updated_at = now()
WHERE rule_id = %s AND deleted_at IS NULL
RETURNING version
"""
_VERSIONS = """
SELECT rule_id, version, document, note, created_at FROM rule_versions
WHERE rule_id = %s AND version > %s ORDER BY version LIMIT %s
"""


class PostgresRuleRepository:
    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool

    async def create(self, rule_id: str, document: Document, note: str | None) -> StoredRule:
        async with self._transaction() as cur:
            await cur.execute(_INSERT_RULE, (rule_id, document["enabled"]))
            row = await cur.fetchone()
            if row is None:
                # The id is taken; a concurrent creator has committed by now (the INSERT waited).
                await cur.execute(
                    "SELECT deleted_at FROM rules WHERE rule_id = %s FOR UPDATE", (rule_id,)
                )
                taken = await cur.fetchone()
                if taken is not None and taken[0] is None:
                    raise Conflict(f"a rule with id {rule_id!r} already exists")
                await cur.execute(_REVIVE, (document["enabled"], rule_id))
                row = await cur.fetchone()
            assert row is not None
            version, created_at = row
            updated_at = await _insert_version(cur, rule_id, version, document, note)
        return StoredRule(rule_id, version, document, created_at, updated_at)

    async def change(self, rule_id: str, edit: Edit, note: str | None) -> tuple[StoredRule, bool]:
        async with self._transaction() as cur:
            await cur.execute(_LOCK, (rule_id,))
            locked = await cur.fetchone()
            if locked is None:
                raise NotFound(f"no rule {rule_id!r}")
            live_version, created_at = locked
            await cur.execute(_DOCUMENT, (rule_id, live_version))
            row = await cur.fetchone()
            assert row is not None, "a rule's live version is stored with it"
            live = StoredRule(rule_id, live_version, row[0], created_at, row[1])
            document = edit(live.document)
            if document == live.document:
                return live, False
            version = live_version + 1
            await cur.execute(_ADVANCE, (version, document["enabled"], rule_id))
            updated_at = await _insert_version(cur, rule_id, version, document, note)
        return StoredRule(rule_id, version, document, created_at, updated_at), True

    async def delete(self, rule_id: str) -> int:
        async with self._transaction() as cur:
            await cur.execute(_DELETE, (rule_id,))
            row = await cur.fetchone()
        if row is None:
            raise NotFound(f"no rule {rule_id!r}")
        version: int = row[0]
        return version

    async def get(self, rule_id: str) -> StoredRule | None:
        async with self._transaction() as cur:
            await cur.execute(f"{_LIVE} AND r.rule_id = %s", (rule_id,))
            row = await cur.fetchone()
        return None if row is None else StoredRule(*row)

    async def live(self, limit: int, after: str | None) -> list[StoredRule]:
        async with self._transaction() as cur:
            await cur.execute(_PAGE, (after or "", limit))
            rows = await cur.fetchall()
        return [StoredRule(*row) for row in rows]

    async def versions(self, rule_id: str, limit: int, after: int) -> list[RuleVersion] | None:
        async with self._transaction() as cur:
            await cur.execute("SELECT 1 FROM rules WHERE rule_id = %s", (rule_id,))
            if await cur.fetchone() is None:
                return None
            await cur.execute(_VERSIONS, (rule_id, after, limit))
            rows = await cur.fetchall()
        return [RuleVersion(*row) for row in rows]

    async def revision(self) -> int:
        async with self._transaction() as cur:
            await cur.execute("SELECT revision FROM rule_set")
            row = await cur.fetchone()
        assert row is not None, "migration 0003 stores the rule_set row"
        revision: int = row[0]
        return revision

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Cursor]:
        try:
            async with (
                self._pool.connection() as conn,
                conn.transaction(),
                conn.cursor(row_factory=tuple_row) as cur,
            ):
                yield cur
        except (psycopg.OperationalError, TimeoutError) as exc:
            raise StoreUnavailable(str(exc).strip() or type(exc).__name__) from exc


async def _insert_version(
    cur: Cursor, rule_id: str, version: int, document: Document, note: str | None
) -> datetime:
    await cur.execute(_INSERT_VERSION, (rule_id, version, Jsonb(document), note))
    row = await cur.fetchone()
    assert row is not None
    created_at: datetime = row[0]
    return created_at
