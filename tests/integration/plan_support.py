"""Reading query plans on a database of their own: `filled_database` clones the migrated
template and runs a fill script (the slow part, so plan tests share one per module), and
`explained` / `plans` give a query's EXPLAIN text, custom and generic."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from tests.conftest import Servers
from tests.support import with_database


@contextmanager
def filled_database(servers: Servers, prefix: str, fill: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection (autocommit) to a new database from the template, `fill` run in it; the
    database is dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(servers.admin_dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{servers.template}"')
    try:
        with psycopg.connect(with_database(servers.admin_dsn, name), autocommit=True) as conn:
            conn.execute(fill)
            yield conn
    finally:
        with psycopg.connect(servers.admin_dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def explained(conn: psycopg.Connection[Any], sql: str, params: Any) -> str:
    """The plan of `sql` for these values (a sequence or a mapping, as the query takes)."""
    return "\n".join(row[0] for row in conn.execute(f"EXPLAIN {sql}", params).fetchall())


def plans(conn: psycopg.Connection[Any], sql: str, params: list[Any]) -> tuple[str, str]:
    """The plan of `sql` for these values, and its generic plan: the one a prepared statement
    may settle on after a few executions (psycopg prepares a query it runs often)."""
    numbered = sql
    for n in range(1, len(params) + 1):
        numbered = numbered.replace("%s", f"${n}", 1)
    with conn.transaction(force_rollback=True):
        conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        conn.execute(f"PREPARE page AS {numbered}")
        arguments = ", ".join(["%s"] * len(params))
        explain = psycopg.ClientCursor(conn)  # EXECUTE takes values, not bound parameters
        generic = explain.execute(f"EXPLAIN EXECUTE page({arguments})", params).fetchall()
        conn.execute("DEALLOCATE page")
    return explained(conn, sql, params), "\n".join(row[0] for row in generic)
