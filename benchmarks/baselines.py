"""Raw baselines, no HTTP and no product process: what Redis and PostgreSQL do on their own.

- XADD from redis-py pipelines, one event per entry and one `max_entry_events` array per entry
  (the product's entry format: field `e` holds a JSON array of encoded events).
- Idempotent inserts of the worker's rows, in the worker's batch size, three ways:
  `unnest` arrays, COPY into a staging table then INSERT … SELECT,
  and pipelined executemany. Each batch reports the ids it newly inserted, as the worker needs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson
import psycopg
import redis

from benchmarks.context import Context
from benchmarks.report import Row
from benchmarks.workload import stream_entries
from eventpulse.application.event_codec import ENTRY_FIELD, decode_entry
from eventpulse.domain.events import Event


@dataclass(frozen=True)
class Rate:
    count: int
    seconds: float

    @property
    def per_s(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0


# --- Redis -----------------------------------------------------------------------------------


def raw_xadd(
    client: redis.Redis, key: str, entries: Sequence[bytes], events: int, per_pipeline: int
) -> Rate:
    """XADD every entry, `per_pipeline` commands per round trip; events/s."""
    client.delete(key)
    start = time.perf_counter()
    for i in range(0, len(entries), per_pipeline):
        pipe = client.pipeline(transaction=False)
        for body in entries[i : i + per_pipeline]:
            pipe.xadd(key, {ENTRY_FIELD: body})
        pipe.execute()
    seconds = time.perf_counter() - start
    written = client.xlen(key)
    client.delete(key)
    if written != len(entries):
        raise RuntimeError(f"raw XADD wrote {written} entries, expected {len(entries)}")
    return Rate(events, seconds)


# --- PostgreSQL ------------------------------------------------------------------------------

_COLUMNS = "event_id, event_type, source, ts, payload, received_at"
_STORED = f"{_COLUMNS}, arrival_ms, arrival_seq, arrival_idx"  # the row the worker stores

STAGE_TABLE = """
CREATE TEMP TABLE IF NOT EXISTS bench_stage (
    event_id uuid, event_type text, source text, ts timestamptz, payload text,
    received_at timestamptz, arrival_ms bigint, arrival_seq bigint, arrival_idx integer
) ON COMMIT DELETE ROWS
"""
COPY_STAGE = f"COPY bench_stage ({_STORED}) FROM STDIN (FORMAT BINARY)"
INSERT_FROM_STAGE = f"""
INSERT INTO events ({_STORED})
SELECT event_id, event_type, source, ts, payload::jsonb, received_at,
       arrival_ms, arrival_seq, arrival_idx
FROM bench_stage
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id
"""
INSERT_ONE = f"""
INSERT INTO events ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s::jsonb, %s)
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id
"""

# The `unnest` strategy the product used before COPY measured faster.
INSERT_NEW_EVENTS = """
INSERT INTO events (event_id, event_type, source, ts, payload, received_at)
SELECT * FROM unnest(
    %s::uuid[], %s::text[], %s::text[], %s::timestamptz[], %s::jsonb[], %s::timestamptz[]
)
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id
"""


def event_columns(events: Sequence[Event]) -> list[list[Any]]:
    """The six column arrays for `INSERT_NEW_EVENTS`."""
    return [
        [e.event_id for e in events],
        [e.event_type for e in events],
        [e.source for e in events],
        [e.ts for e in events],
        [orjson.dumps(e.payload).decode() for e in events],
        [e.received_at for e in events],
    ]


Inserter = Callable[[psycopg.Connection[Any], Sequence[Event]], set[UUID]]


def insert_unnest(conn: psycopg.Connection[Any], events: Sequence[Event]) -> set[UUID]:
    """(a) Six arrays, one INSERT … SELECT FROM unnest(...)."""
    with conn.cursor() as cur:
        cur.execute(INSERT_NEW_EVENTS, event_columns(events))
        inserted = {row[0] for row in cur.fetchall()}
    conn.commit()
    return inserted


INSERT_NEW_EVENTS_BINARY = INSERT_NEW_EVENTS.replace("%s", "%b")


def insert_unnest_binary(conn: psycopg.Connection[Any], events: Sequence[Event]) -> set[UUID]:
    """(a') The same statement with `%b` placeholders: the arrays travel in binary.

    With `%s`, psycopg sends `str` and `datetime` lists as *text* arrays, quoting and escaping
    every element in Python (each payload is JSON full of quotes): most of (a)'s time.
    """
    with conn.cursor() as cur:
        cur.execute(INSERT_NEW_EVENTS_BINARY, event_columns(events))
        inserted = {row[0] for row in cur.fetchall()}
    conn.commit()
    return inserted


def insert_copy(conn: psycopg.Connection[Any], events: Sequence[Event]) -> set[UUID]:
    """(b) Binary COPY into a temp staging table, then INSERT … SELECT … ON CONFLICT."""
    with conn.cursor() as cur:
        cur.execute(STAGE_TABLE)
        with cur.copy(COPY_STAGE) as copy:
            copy.set_types(
                [
                    "uuid",
                    "text",
                    "text",
                    "timestamptz",
                    "text",
                    "timestamptz",
                    "int8",
                    "int8",
                    "int4",
                ]
            )
            for e in events:
                copy.write_row(
                    (
                        e.event_id,
                        e.event_type,
                        e.source,
                        e.ts,
                        orjson.dumps(e.payload).decode(),
                        e.received_at,
                        *e.arrival,
                    )
                )
        cur.execute(INSERT_FROM_STAGE)
        inserted = {row[0] for row in cur.fetchall()}
    conn.commit()  # ON COMMIT DELETE ROWS empties the staging table
    return inserted


def insert_executemany(conn: psycopg.Connection[Any], events: Sequence[Event]) -> set[UUID]:
    """(c) One INSERT … ON CONFLICT per row, pipelined by psycopg's executemany."""
    rows = [
        (e.event_id, e.event_type, e.source, e.ts, orjson.dumps(e.payload).decode(), e.received_at)
        for e in events
    ]
    inserted: set[UUID] = set()
    with conn.cursor() as cur:
        cur.executemany(INSERT_ONE, rows, returning=True)
        while True:
            row = cur.fetchone()
            if row is not None:
                inserted.add(row[0])
            if not cur.nextset():
                break
    conn.commit()
    return inserted


INSERTERS: dict[str, Inserter] = {
    "unnest": insert_unnest,
    "unnest-binary": insert_unnest_binary,
    "copy": insert_copy,
    "executemany": insert_executemany,
}

DESCRIPTIONS = {
    "unnest": "INSERT … SELECT FROM unnest(arrays) ON CONFLICT DO NOTHING RETURNING",
    "unnest-binary": "the unnest statement with %b (binary) instead of %s parameters",
    "copy": "binary COPY → temp table, INSERT … SELECT ON CONFLICT DO NOTHING RETURNING",
    "executemany": "pipelined executemany of INSERT … ON CONFLICT DO NOTHING RETURNING",
}


def reset_events(dsn: str) -> None:
    """An empty events table and a checkpoint, so every strategy starts from the same state."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE events")
        with suppress(psycopg.errors.InsufficientPrivilege):
            conn.execute("CHECKPOINT")


def raw_insert(
    dsn: str, batches: Sequence[Sequence[Event]], inserter: Inserter, budget_s: float
) -> Rate:
    """Insert the batches into an empty table; rows/s. Checks that every row was new.

    Stops after the batch that crosses `budget_s` (the rate is then over the rows done).
    """
    reset_events(dsn)
    with psycopg.connect(dsn) as conn:
        conn.execute("SELECT 1")  # connection and first round trip outside the timing
        conn.commit()
        done = new = 0
        start = time.perf_counter()
        for batch in batches:
            new += len(inserter(conn, batch))
            done += len(batch)
            if time.perf_counter() - start > budget_s:
                break
        seconds = time.perf_counter() - start
        stored = conn.execute("SELECT count(*) FROM events").fetchone()
    if new != done or stored is None or stored[0] != done:
        raise RuntimeError(f"{inserter.__name__}: {new} new, {stored} stored of {done}")
    return Rate(done, seconds)


# --- running them ----------------------------------------------------------------------------


def worker_batches(entries: Sequence[bytes], read_count: int) -> list[list[Event]]:
    """The events of `entries`, grouped as the worker groups them (one XREADGROUP each)."""
    batches = []
    for i in range(0, len(entries), read_count):
        batch: list[Event] = []
        for entry in entries[i : i + read_count]:
            good, bad = decode_entry(entry)
            if bad:
                raise RuntimeError(f"undecodable benchmark event: {bad[0].error}")
            batch.extend(good)
        batches.append(batch)
    return batches


def run(ctx: Context) -> None:
    run_xadd(ctx)
    run_inserts(ctx)


def run_xadd(ctx: Context) -> None:
    cfg = ctx.config
    wire = ctx.wire_events
    key = f"{ctx.target.namespace}:raw"
    single = stream_entries(wire, 1)
    grouped = ctx.entries()
    client = ctx.target.redis()
    try:
        per_event = max(
            raw_xadd(client, key, single, len(wire), cfg.xadd_pipeline_single).per_s
            for _ in range(cfg.xadd_repeats)
        )
        per_entry = max(
            raw_xadd(client, key, grouped, len(wire), cfg.xadd_pipeline_entries).per_s
            for _ in range(cfg.xadd_repeats)
        )
    finally:
        client.close()
    ctx.baselines["xadd_event"] = per_event
    ctx.baselines["xadd_entry"] = per_entry
    ctx.results.add(
        Row(f"raw XADD, 1 event/entry ({cfg.xadd_pipeline_single}/pipeline)", per_event, "events/s")
    )
    ctx.results.add(
        Row(
            f"raw XADD, {cfg.entry_events} events/entry ({cfg.xadd_pipeline_entries}/pipeline)",
            per_entry,
            "events/s",
            "raw XADD, 1 event/entry",
            per_event,
        )
    )


def run_inserts(ctx: Context) -> None:
    cfg = ctx.config
    batches = worker_batches(ctx.entries(), cfg.read_count)
    total = sum(len(b) for b in batches)
    rates = {
        name: raw_insert(ctx.target.database_url, batches, fn, cfg.insert_budget_s)
        for name, fn in INSERTERS.items()
    }
    for name, rate in rates.items():
        if rate.count < total:
            ctx.results.note(
                f"raw insert {name} hit its {cfg.insert_budget_s:.0f} s budget: "
                f"rate over {rate.count:,} of {total:,} rows"
            )
    best = max(rates, key=lambda name: rates[name].per_s)
    ctx.baselines["insert_best"] = rates[best].per_s
    ctx.results.details["fastest raw insert"] = best
    size = len(batches[0]) if batches else 0
    for name, rate in rates.items():
        ctx.results.add(
            Row(
                f"raw PG insert: {name} ({size:,}-row batches)",
                rate.per_s,
                "rows/s",
                f"fastest raw insert ({best})",
                rates[best].per_s,
            )
        )
    for name, description in DESCRIPTIONS.items():
        ctx.results.details[f"insert strategy {name}"] = description
