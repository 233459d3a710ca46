"""PostgreSQL side of live evaluation: the lease, the checkpoint, events by arrival, anomalies.

The lease is a session advisory lock on this store's own connection: it lives exactly as long
as the connection, so a worker that dies (or loses its connection) gives it up at once. The
commit is fenced besides: it updates the cursor row only where it still holds the checkpoint
the step started from, so even a holder that lost the lease without noticing stores nothing.
"""

from __future__ import annotations

import logging
from typing import Any, Final

import orjson
import psycopg
from psycopg.types.json import Jsonb, set_json_dumps, set_json_loads

from eventpulse.application.evaluation import (
    Checkpoint,
    Frontier,
    LeaseLost,
    Position,
    RuleKey,
    RuleProgress,
    Step,
)
from eventpulse.domain.engine import Anomaly
from eventpulse.domain.events import Event
from eventpulse.infrastructure.postgres_errors import Connection, OwnConnection, dropping_connection
from eventpulse.infrastructure.postgres_history import STORED_COLUMNS, stored_pair

log = logging.getLogger("eventpulse.evaluation")

LEASE_KEY: Final = 0x65705F6576616C  # "ep_eval": one evaluating worker per database

_EVENTS_AFTER: Final = f"""
SELECT {STORED_COLUMNS} FROM events
WHERE (arrival_ms, arrival_seq, arrival_idx) > (%s, %s, %s)
  AND (arrival_ms, arrival_seq) < (%s, %s)
ORDER BY arrival_ms, arrival_seq, arrival_idx
LIMIT %s
"""
_ADVANCE: Final = """
UPDATE evaluation_cursor
SET arrival_ms = %s, arrival_seq = %s, arrival_idx = %s, steps = steps + 1, updated_at = now()
WHERE (arrival_ms, arrival_seq, arrival_idx) = (%s, %s, %s) AND steps = %s
"""
_START: Final = """
INSERT INTO rule_evaluations (rule_id, rule_version, started_ms, started_seq, started_idx, state)
VALUES (%s, %s, %s, %s, %s, '{}')
ON CONFLICT (rule_id, rule_version) DO NOTHING
"""
_END: Final = """
UPDATE rule_evaluations SET ended_ms = %s, ended_seq = %s, ended_idx = %s, state = '{}',
    updated_at = now()
WHERE rule_id = %s AND rule_version = %s AND ended_ms IS NULL
"""
_STATES: Final = """
UPDATE rule_evaluations r SET state = s.state, updated_at = now()
FROM unnest(%s::text[], %s::integer[], %s::jsonb[]) AS s (rule_id, rule_version, state)
WHERE r.rule_id = s.rule_id AND r.rule_version = s.rule_version
"""
_ANOMALIES: Final = """
INSERT INTO anomalies (anomaly_id, rule_id, rule_version, severity, group_key, window_start,
    window_end, ts, value, message, details)
SELECT * FROM unnest(%s::text[], %s::text[], %s::integer[], %s::text[], %s::jsonb[],
    %s::timestamptz[], %s::timestamptz[], %s::timestamptz[], %s::float8[], %s::text[],
    %s::jsonb[])
ON CONFLICT (anomaly_id) DO NOTHING
RETURNING anomaly_id
"""


def _json_text(value: Any) -> str:
    # Non-finite floats (a spike ratio over an empty reference) have no JSON form: null.
    return orjson.dumps(value).decode()


class PostgresEvaluationStore:
    """One connection, used by one evaluation thread."""

    def __init__(self, dsn: str, worker: str = "", connect_timeout: int = 5) -> None:
        self._own = OwnConnection(
            dsn,
            connect_timeout=connect_timeout,
            # pg_stat_activity shows which worker evaluates
            application_name=f"eventpulse-evaluation {worker}".strip(),
            configure=_orjson_json,
        )
        self._leased = False

    def acquire_lease(self) -> bool:
        if self._leased and self._own.is_open:
            return True
        with dropping_connection(self.release_lease):
            conn = self._connection()
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (LEASE_KEY,)).fetchone()
            self._leased = bool(row and row[0])
        return self._leased

    def release_lease(self) -> None:
        self._leased = False
        self._own.close()  # the lock goes with the session

    def load(self) -> Checkpoint:
        with dropping_connection(self.release_lease):
            conn = self._connection()
            with conn.transaction():
                cursor_row = conn.execute(
                    "SELECT arrival_ms, arrival_seq, arrival_idx, steps FROM evaluation_cursor"
                ).fetchone()
                rows = conn.execute(
                    "SELECT rule_id, rule_version, started_ms, started_seq, started_idx,"
                    " ended_ms IS NOT NULL, state FROM rule_evaluations"
                ).fetchall()
        assert cursor_row is not None, "migration 0003 stores the cursor row"
        running: dict[RuleKey, RuleProgress] = {}
        finished: set[RuleKey] = set()
        for rule_id, version, s_ms, s_seq, s_idx, ended, state in rows:
            if ended:
                finished.add((rule_id, version))
            else:
                progress = RuleProgress(rule_id, version, (s_ms, s_seq, s_idx), state or None)
                running[(rule_id, version)] = progress
        ms, seq, idx, steps = cursor_row
        return Checkpoint((ms, seq, idx), steps, running, frozenset(finished))

    def events_after(
        self, cursor: Position, frontier: Frontier, limit: int
    ) -> list[tuple[Position, Event]]:
        with dropping_connection(self.release_lease):
            conn = self._connection()
            with conn.transaction():
                rows = conn.execute(_EVENTS_AFTER, (*cursor, *frontier, limit)).fetchall()
        pairs: list[Any] = [stored_pair(row) for row in rows]
        return pairs

    def commit(self, step: Step) -> list[Anomaly]:
        previous = step.previous
        with dropping_connection(self.release_lease):
            conn = self._connection()
            with conn.transaction(), conn.cursor() as cur:
                cur.execute(_ADVANCE, (*step.cursor, *previous.cursor, previous.steps))
                if cur.rowcount != 1:
                    raise LeaseLost("the evaluation checkpoint moved: another worker evaluates")
                for progress in step.started:
                    cur.execute(_START, (progress.rule_id, progress.version, *progress.started))
                for rule_id, version in step.ended:
                    cur.execute(_END, (*previous.cursor, rule_id, version))
                if step.states:
                    keys = list(step.states)
                    cur.execute(
                        _STATES,
                        (
                            [key[0] for key in keys],
                            [key[1] for key in keys],
                            [Jsonb(step.states[key]) for key in keys],
                        ),
                    )
                stored = _insert_anomalies(cur, step.anomalies)
        return stored

    def close(self) -> None:
        self.release_lease()

    def _connection(self) -> Connection:
        if not self._own.is_open:
            self._leased = False  # a new session holds no lock
        return self._own.get()


def _orjson_json(conn: Connection) -> None:
    set_json_dumps(_json_text, context=conn)
    set_json_loads(orjson.loads, context=conn)


def _insert_anomalies(
    cur: psycopg.Cursor[tuple[Any, ...]], anomalies: list[Anomaly]
) -> list[Anomaly]:
    if not anomalies:
        return []
    unique = {anomaly.anomaly_id: anomaly for anomaly in anomalies}
    columns: list[list[Any]] = [[] for _ in range(11)]
    for a in unique.values():
        row = (
            a.anomaly_id,
            a.rule_id,
            a.rule_version,
            a.severity,
            Jsonb(a.group),
            a.window_start,
            a.window_end,
            a.ts,
            None if a.value is None else float(a.value),  # one array type: ints become floats
            (a.message or "").replace("\x00", ""),  # text cannot hold NUL
            Jsonb(a.details),
        )
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    cur.execute(_ANOMALIES, columns)
    new = {row[0] for row in cur.fetchall()}
    return [anomaly for anomaly in unique.values() if anomaly.anomaly_id in new]
