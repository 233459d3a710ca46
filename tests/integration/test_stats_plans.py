"""The stats queries read an index range, never a whole table: EXPLAIN of each on tables holding
a day of rows (ANALYZEd), asked about the last hour. The SQL is the adapter's own."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from eventpulse.application.stats import LAG_CAP
from eventpulse.infrastructure.postgres_stats import (
    ANOMALIES_SQL,
    DELIVERIES_SQL,
    EVALUATION_LAG_SQL,
    events_sql,
    window_params,
)
from tests.conftest import Servers
from tests.integration.plan_support import explained, filled_database

pytestmark = pytest.mark.integration

ROWS = 86_400  # one a second, for a day
NOW = datetime(2024, 1, 2, tzinfo=UTC)
START = NOW - timedelta(seconds=ROWS)

_FILL = f"""
INSERT INTO events (event_id, event_type, source, ts, payload, received_at,
                    arrival_ms, arrival_seq, arrival_idx)
SELECT gen_random_uuid(), 'type-' || (i % 50), 'source-' || (i % 47), t, '{{}}'::jsonb, t,
       (extract(epoch FROM t) * 1000)::bigint + 3, 0, 0
FROM generate_series(1, {ROWS}) AS i,
     LATERAL (SELECT timestamptz '{START.isoformat()}' + i * interval '1 second' AS t) AS at;
INSERT INTO anomalies (anomaly_id, rule_id, rule_version, severity, group_key, window_start,
                       window_end, ts, created_at)
SELECT md5(i::text), 'rule-' || (i % 47), 1, 'info', '{{}}'::jsonb, t, t, t, t
FROM generate_series(1, {ROWS}) AS i,
     LATERAL (SELECT timestamptz '{START.isoformat()}' + i * interval '1 second' AS t) AS at;
INSERT INTO notification_deliveries (anomaly_id, channel, attempt, status, created_at)
SELECT md5(i::text), 'channel-' || (i % 5), 1, 'sent', t
FROM generate_series(1, {ROWS}) AS i,
     LATERAL (SELECT timestamptz '{START.isoformat()}' + i * interval '1 second' AS t) AS at;
UPDATE evaluation_cursor SET arrival_ms = (extract(epoch FROM timestamptz '{NOW.isoformat()}')
    * 1000)::bigint - 60000;
ANALYZE events;
ANALYZE anomalies;
ANALYZE notification_deliveries;
"""


@pytest.fixture(scope="module")
def filled(servers: Servers) -> Iterator[psycopg.Connection[Any]]:
    with filled_database(servers, "ep_stats_plans", _FILL) as conn:
        yield conn


LAST_HOUR = window_params(NOW - timedelta(hours=1), NOW)


@pytest.mark.parametrize(
    ("sql", "params", "table", "index"),
    [
        (events_sql("event_type"), LAST_HOUR, "events", "events_arrival_idx"),
        (events_sql("source"), LAST_HOUR, "events", "events_arrival_idx"),
        (ANOMALIES_SQL, LAST_HOUR, "anomalies", "anomalies_created_idx"),
        (
            DELIVERIES_SQL,
            LAST_HOUR,
            "notification_deliveries",
            "notification_deliveries_created_idx",
        ),
        (EVALUATION_LAG_SQL, {"cap": LAG_CAP}, "events", "events_arrival_idx"),
    ],
    ids=["events-by-type", "events-by-source", "anomalies", "deliveries", "evaluation-lag"],
)
def test_a_stats_count_reads_only_its_window_through_an_index(
    filled: psycopg.Connection[Any], sql: str, params: dict[str, Any], table: str, index: str
) -> None:
    plan = explained(filled, sql, params)

    assert index in plan, plan
    assert f"Seq Scan on {table}" not in plan, plan


def test_the_events_window_counts_by_received_at_exactly(filled: psycopg.Connection[Any]) -> None:
    (count,) = filled.execute(
        f"SELECT sum(n) FROM ({events_sql('source')}) AS c (source, n)", LAST_HOUR
    ).fetchone() or (None,)

    assert count == 3600
