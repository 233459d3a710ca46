"""The list queries use their indexes: EXPLAIN of each query shape on a table large enough (and
ANALYZEd) for PostgreSQL to prefer an index only when it serves the query, never a Seq Scan.

Severities are skewed as in life (2% critical, 28% warning, the rest info): for a common value
PostgreSQL may rightly read `anomalies_ts_idx` and filter, since a page is found as quickly.
The SQL is the adapters' own (`events_page_sql`, `anomalies_page_sql`), so a change of the
queries is checked against the indexes of migration 0001.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest

from eventpulse.application.ports import AnomalyQuery, EventQuery
from eventpulse.domain.rules import Severity
from eventpulse.infrastructure.postgres_anomalies import anomalies_page_sql
from eventpulse.infrastructure.postgres_events import events_page_sql
from tests.conftest import Servers
from tests.integration.plan_support import filled_database, plans

ROWS = 60_000
T0 = datetime(2024, 1, 1, tzinfo=UTC)
SINCE, UNTIL = T0 + timedelta(hours=4), T0 + timedelta(hours=10)
AFTER_TS = T0 + timedelta(hours=6)
PAGE = 101  # a page of 100 and the one more row that tells whether another page follows

_FILL = f"""
INSERT INTO events (event_id, event_type, source, ts, payload, received_at)
SELECT gen_random_uuid(), 'type-' || (i % 50), 'source-' || (i % 47),
       timestamptz '{T0.isoformat()}' + i * interval '1 second', '{{}}'::jsonb, now()
FROM generate_series(1, {ROWS}) AS i;
INSERT INTO anomalies (anomaly_id, rule_id, rule_version, severity, group_key, window_start,
                       window_end, ts)
SELECT md5(i::text), 'rule-' || (i % 47), 1,
       CASE WHEN i % 50 = 0 THEN 'critical' WHEN i % 50 < 15 THEN 'warning' ELSE 'info' END,
       '{{}}'::jsonb, t, t, t
FROM generate_series(1, {ROWS}) AS i,
     LATERAL (SELECT timestamptz '{T0.isoformat()}' + i * interval '1 second' AS t) AS at;
ANALYZE events;
ANALYZE anomalies;
"""


@pytest.fixture(scope="module")
def filled(servers: Servers) -> Iterator[psycopg.Connection[Any]]:
    """One migrated database for the module's plans (filling it is the slow part)."""
    with filled_database(servers, "ep_plans", _FILL) as conn:
        yield conn


EVENT_SHAPES = {
    "everything": (EventQuery(PAGE), "events_ts_idx"),
    "range": (EventQuery(PAGE, since=SINCE, until=UNTIL), "events_ts_idx"),
    "since-next-page": (
        EventQuery(PAGE, since=SINCE, after=(AFTER_TS, UUID(int=0))),
        "events_ts_idx",
    ),
    "type": (EventQuery(PAGE, event_type="type-7"), "events_type_ts_idx"),
    "type-range-next-page": (
        EventQuery(
            PAGE, event_type="type-7", since=SINCE, until=UNTIL, after=(AFTER_TS, UUID(int=0))
        ),
        "events_type_ts_idx",
    ),
    "source": (EventQuery(PAGE, source="source-3"), "events_source_ts_idx"),
    "source-range-next-page": (
        EventQuery(PAGE, source="source-3", until=UNTIL, after=(AFTER_TS, UUID(int=0))),
        "events_source_ts_idx",
    ),
}

ANOMALY_SHAPES = {
    "everything": (AnomalyQuery(PAGE), "anomalies_ts_idx"),
    "range-next-page": (
        AnomalyQuery(PAGE, since=SINCE, until=UNTIL, after=(AFTER_TS, "0")),
        "anomalies_ts_idx",
    ),
    "rule": (AnomalyQuery(PAGE, rule_id="rule-7"), "anomalies_rule_ts_idx"),
    "rule-range-next-page": (
        AnomalyQuery(PAGE, rule_id="rule-7", since=SINCE, until=UNTIL, after=(AFTER_TS, "0")),
        "anomalies_rule_ts_idx",
    ),
    "severity": (AnomalyQuery(PAGE, severity=Severity.CRITICAL), "anomalies_severity_ts_idx"),
    "severity-range-next-page": (
        AnomalyQuery(PAGE, severity=Severity.CRITICAL, since=SINCE, after=(AFTER_TS, "0")),
        "anomalies_severity_ts_idx",
    ),
}


def assert_range_scan(explained: str) -> None:
    """Rows come from an index, in its order, and the scan stops after a page."""
    assert "Index Scan" in explained, explained
    assert "Seq Scan" not in explained and "Sort" not in explained, explained


@pytest.mark.parametrize(("query", "index"), EVENT_SHAPES.values(), ids=EVENT_SHAPES.keys())
def test_an_events_page_is_read_through_its_index(
    filled: psycopg.Connection[Any], query: EventQuery, index: str
) -> None:
    custom, generic = plans(filled, *events_page_sql(query))

    assert f"Index Scan using {index} on events" in custom, custom
    assert_range_scan(custom)
    assert_range_scan(generic)


@pytest.mark.parametrize(("query", "index"), ANOMALY_SHAPES.values(), ids=ANOMALY_SHAPES.keys())
def test_an_anomalies_page_is_read_through_its_index(
    filled: psycopg.Connection[Any], query: AnomalyQuery, index: str
) -> None:
    custom, generic = plans(filled, *anomalies_page_sql(query))

    assert f"Index Scan using {index} on anomalies" in custom, custom
    assert_range_scan(custom)
    # Not knowing the severity, the generic plan may take anomalies_ts_idx and filter.
    assert_range_scan(generic)


@pytest.mark.parametrize(
    "sql_params",
    [
        events_page_sql(EventQuery(PAGE, event_type="type-7", source="source-3")),
        anomalies_page_sql(AnomalyQuery(PAGE, rule_id="rule-7", severity=Severity.WARNING)),
        anomalies_page_sql(AnomalyQuery(PAGE, severity=Severity.INFO, since=SINCE)),
    ],
    ids=["events-type-and-source", "anomalies-rule-and-severity", "anomalies-common-severity"],
)
def test_other_shapes_read_an_index_not_the_table(
    filled: psycopg.Connection[Any], sql_params: tuple[str, list[Any]]
) -> None:
    # No index has both filter columns (PostgreSQL may AND two bitmap index scans, then sort
    # the few rows), and a common severity is found as fast in ts order: any of the table's
    # indexes will do, as long as the table is not read whole.
    for explained in plans(filled, *sql_params):
        assert "Index Scan" in explained, explained
        assert "Seq Scan" not in explained, explained
