"""The PostgreSQL side of live evaluation on a real server: one lease holder, fenced commits,
events by arrival up to the frontier, anomalies of any value type stored once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from eventpulse.application.evaluation import LeaseLost, RuleProgress, Step
from eventpulse.domain.engine import Anomaly
from eventpulse.infrastructure.postgres_evaluation import PostgresEvaluationStore

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def anomaly(number: int, value: float | int | None) -> Anomaly:
    at = T0 + timedelta(minutes=number)
    return Anomaly(
        f"id-{number}", "r", 1, "info", {"source": "a"}, at, at, at, value, "m\x00", {"n": number}
    )


def insert_events(db: psycopg.Connection[Any], positions: list[tuple[int, int, int]]) -> None:
    for ms, seq, idx in positions:
        db.execute(
            "INSERT INTO events (event_id, event_type, source, ts, payload, received_at,"
            " arrival_ms, arrival_seq, arrival_idx) VALUES (%s, 't', 's', %s, %s, %s, %s, %s, %s)",
            (uuid.uuid4(), T0, Jsonb({"v": ms}), T0, ms, seq, idx),
        )


def test_one_holder_at_a_time_and_the_lease_goes_with_the_connection(database_url: str) -> None:
    first, second = PostgresEvaluationStore(database_url), PostgresEvaluationStore(database_url)
    try:
        assert first.acquire_lease()
        assert first.acquire_lease()  # held: no second lock taken
        assert not second.acquire_lease()
        first.release_lease()
        assert second.acquire_lease()
    finally:
        first.close()
        second.close()


def test_events_after_the_cursor_and_before_the_frontier_in_arrival_order(
    database_url: str, db: psycopg.Connection[Any]
) -> None:
    insert_events(db, [(5, 0, 1), (3, 0, 0), (5, 0, 0), (4, 1, 0), (7, 0, 0), (3, 0, 1)])
    store = PostgresEvaluationStore(database_url)
    try:
        found = store.events_after((3, 0, 0), (7, 0), 10)
        limited = store.events_after((3, 0, 0), (7, 0), 2)
    finally:
        store.close()

    assert [p for p, _ in found] == [(3, 0, 1), (4, 1, 0), (5, 0, 0), (5, 0, 1)]
    assert [p for p, _ in limited] == [(3, 0, 1), (4, 1, 0)]
    assert all(e.arrival == p for p, e in found)


def test_a_commit_stores_anomalies_of_mixed_value_types_once_and_is_fenced(
    database_url: str, db: psycopg.Connection[Any]
) -> None:
    store = PostgresEvaluationStore(database_url)
    try:
        checkpoint = store.load()
        step = Step(
            previous=checkpoint,
            cursor=(9, 0, -1),
            started=[RuleProgress("r", 1, checkpoint.cursor, None)],
            ended=[],
            states={("r", 1): {"format": 1}},
            anomalies=[anomaly(1, 3), anomaly(2, 2.5), anomaly(3, None), anomaly(1, 3)],
        )
        stored = store.commit(step)
        with pytest.raises(LeaseLost):  # the same step again: the checkpoint has moved
            store.commit(step)
        after = store.load()
    finally:
        store.close()

    assert sorted(a.anomaly_id for a in stored) == ["id-1", "id-2", "id-3"]
    rows = db.execute("SELECT anomaly_id, value, message FROM anomalies ORDER BY 1").fetchall()
    assert rows == [("id-1", 3.0, "m"), ("id-2", 2.5, "m"), ("id-3", None, "m")]
    assert (after.cursor, after.steps) == ((9, 0, -1), 1)
    assert after.running[("r", 1)].state == {"format": 1}
