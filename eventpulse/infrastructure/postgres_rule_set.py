"""The stored rule set as a worker reads it: enabled live rules at one revision (sync psycopg)."""

from __future__ import annotations

from typing import Final

import psycopg

from eventpulse.application.rule_set import StoredRuleSet
from eventpulse.infrastructure.postgres_errors import Connection, OwnConnection, dropping_connection

_REVISION: Final = "SELECT revision FROM rule_set"
_ENABLED: Final = """
SELECT r.rule_id, r.version, v.document
FROM rules r JOIN rule_versions v USING (rule_id, version)
WHERE r.deleted_at IS NULL AND r.enabled
ORDER BY r.rule_id COLLATE "C"
"""


class PostgresRuleSetSource:
    """Connects lazily; a failed connection is dropped and reopened by the next call."""

    def __init__(self, dsn: str, connect_timeout: int = 5) -> None:
        self._own = OwnConnection(dsn, connect_timeout=connect_timeout, configure=_snapshots)

    def revision(self) -> int:
        with dropping_connection(self.close):
            row = self._own.get().execute(_REVISION).fetchone()
        assert row is not None, "migration 0003 stores the rule_set row"
        revision: int = row[0]
        return revision

    def load(self) -> StoredRuleSet:
        with dropping_connection(self.close):
            conn = self._own.get()
            with conn.transaction():  # one snapshot: the revision is that of the rules read
                row = conn.execute(_REVISION).fetchone()
                rules = conn.execute(_ENABLED).fetchall()
        assert row is not None
        return StoredRuleSet(row[0], tuple((r[0], r[1], r[2]) for r in rules))

    def close(self) -> None:
        self._own.close()


def _snapshots(conn: Connection) -> None:
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True
