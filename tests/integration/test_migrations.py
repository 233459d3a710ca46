"""Migrations on a database that already holds events."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg

from eventpulse.infrastructure import schema
from tests.conftest import Servers
from tests.support import with_database


def test_events_stored_before_the_arrival_order_get_distinct_keys_in_receive_order(
    servers: Servers,
) -> None:
    name = f"ep_mig_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(servers.admin_dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    dsn = with_database(servers.admin_dsn, name)
    try:
        schema.upgrade(dsn, "0001")
        ids = [uuid.uuid4() for _ in range(5)]
        with psycopg.connect(dsn, autocommit=True) as conn:
            for minute, event_id in enumerate(ids):
                conn.execute(
                    "INSERT INTO events (event_id, event_type, source, ts, payload, received_at)"
                    " VALUES (%s, 'a', 's', now(), '{}',"
                    " timestamptz '2024-01-01T00:00:00Z' + make_interval(mins => %s))",
                    (event_id, minute),
                )
        schema.upgrade(dsn)
        with psycopg.connect(dsn) as conn:
            rows: list[Any] = conn.execute(
                "SELECT event_id, arrival_ms, arrival_seq, arrival_idx FROM events"
                " ORDER BY arrival_ms, arrival_seq, arrival_idx"
            ).fetchall()
        assert [row[0] for row in rows] == ids
        assert [row[1:] for row in rows] == [(0, n, 0) for n in range(1, 6)]
    finally:
        with psycopg.connect(servers.admin_dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
