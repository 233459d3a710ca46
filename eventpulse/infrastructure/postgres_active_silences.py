"""Active silences read from PostgreSQL (`silences`, migration 0004), cached for a few seconds:
a silence created through the API takes effect within `max_age_s`."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Final

from psycopg_pool import AsyncConnectionPool

from eventpulse.domain.silences import Silence
from eventpulse.infrastructure.postgres_pool_errors import store_errors

_ACTIVE: Final = """
SELECT silence_id::text, matchers, starts_at, ends_at, comment, created_by
FROM silences WHERE deleted_at IS NULL AND ends_at > now()
"""


def _silence(row: tuple[Any, ...]) -> Silence:
    silence_id, matchers, starts_at, ends_at, comment, created_by = row
    matchers = matchers or {}
    return Silence(
        silence_id,
        starts_at,
        ends_at,
        tuple(matchers.get("rule_id") or ()),
        tuple(matchers.get("severity") or ()),
        dict(matchers.get("group") or {}),
        comment or "",
        created_by or "",
    )


class PostgresSilences:
    def __init__(self, pool: AsyncConnectionPool[Any], max_age_s: float = 5.0) -> None:
        self._pool = pool
        self._max_age_s = max_age_s
        self._cached: list[Silence] = []
        self._read_at: float | None = None

    async def active(self) -> Sequence[Silence]:
        now = time.monotonic()
        if self._read_at is None or now - self._read_at >= self._max_age_s:
            async with store_errors(), self._pool.connection() as conn:
                rows = await (await conn.execute(_ACTIVE)).fetchall()
            self._cached = [_silence(row) for row in rows]
            self._read_at = now
        return self._cached
