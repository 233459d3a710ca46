"""The tags of rule versions (`rule_versions.document->'tags'`), for routing. Versions are
immutable, so each one is read once and kept (a bounded cache)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from psycopg_pool import AsyncConnectionPool

from eventpulse.infrastructure.postgres_pool_errors import store_errors

_TAGS: Final = """
SELECT v.rule_id, v.version, v.document->'tags'
FROM rule_versions v
JOIN unnest(%s::text[], %s::int[]) AS k(rule_id, version) USING (rule_id, version)
"""
_MAX_CACHED: Final = 10_000


class PostgresRuleTags:
    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool
        self._cache: dict[tuple[str, int], tuple[str, ...]] = {}

    async def tags(
        self, versions: set[tuple[str, int]]
    ) -> Mapping[tuple[str, int], tuple[str, ...]]:
        missing = [v for v in versions if v not in self._cache]
        if missing:
            async with store_errors(), self._pool.connection() as conn:
                cursor = await conn.execute(
                    _TAGS, ([rule for rule, _ in missing], [version for _, version in missing])
                )
                rows = await cursor.fetchall()
            if len(self._cache) + len(missing) > _MAX_CACHED:
                self._cache.clear()
            found = {(row[0], row[1]): _strings(row[2]) for row in rows}
            for version in missing:
                self._cache[version] = found.get(version, ())
        return {v: self._cache.get(v, ()) for v in versions}


def _strings(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(item for item in value if isinstance(item, str))
