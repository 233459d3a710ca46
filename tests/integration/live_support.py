"""Helpers for live-evaluation tests: waiting for the evaluator, reading stored anomalies."""

from __future__ import annotations

from typing import Any

import psycopg

from tests.support import wait_until

_CAUGHT_UP = """
SELECT NOT EXISTS (
    SELECT 1 FROM events e, evaluation_cursor c
    WHERE (e.arrival_ms, e.arrival_seq, e.arrival_idx)
        > (c.arrival_ms, c.arrival_seq, c.arrival_idx)
)
"""


def evaluated_everything(db: psycopg.Connection[Any]) -> bool:
    """Whether the live evaluation cursor is past every stored event."""
    row = db.execute(_CAUGHT_UP).fetchone()
    return bool(row and row[0])


def wait_stored_and_evaluated(
    db: psycopg.Connection[Any], count: int, timeout: float = 120
) -> None:
    wait_until(
        lambda: (
            db.execute("SELECT count(*) FROM events").fetchone()[0] == count
            and evaluated_everything(db)
        ),
        timeout=timeout,
        what=f"{count} events stored and evaluated",
    )


def stored_anomaly_ids(db: psycopg.Connection[Any], rule_id: str | None = None) -> list[str]:
    if rule_id is None:
        rows = db.execute("SELECT anomaly_id FROM anomalies ORDER BY anomaly_id").fetchall()
    else:
        rows = db.execute(
            "SELECT anomaly_id FROM anomalies WHERE rule_id = %s ORDER BY anomaly_id", (rule_id,)
        ).fetchall()
    return [row[0] for row in rows]
