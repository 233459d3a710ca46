"""Loading stored events into pandas from a notebook: `Workbench.events` against a raw COPY.

The events: the engine step's event set (`benchmarks/engine.py`: 200,000 events, 80% metric
payloads `host`/`value`/`unit`, 20% log payloads `host`/`level`/`code`/`message`), stored by
binary COPY (untimed), then VACUUM ANALYZE.

1. Workbench: `Workbench.events(since, until)` over every stored event, through the product's
   code path (chunked column aggregates, `PostgresEventColumns`, frames built column by
   column): a DataFrame with `event_id`, `event_type`, `source`, `ts`, `received_at` and one
   column per payload field (`payload.host`, `payload.value`, ...); rows/s. Target: at least
   300,000 rows/s. The same with `flatten_payload=False` (one column of dicts) in the details.
2. Raw baseline, same run, interleaved: `COPY (SELECT the same columns of the same rows, in
   the same order) TO STDOUT (FORMAT BINARY)`, every byte read, nothing parsed; rows/s.

Each run is checked: every row, ids unique, times in order, the payload columns as expected.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final

import psycopg

from benchmarks.context import Context
from benchmarks.engine import build_events, store
from benchmarks.report import Row
from eventpulse.workbench import Workbench

REPEATS: Final = 3
RATE_TARGET: Final = 300_000.0
PAYLOAD_COLUMNS: Final = {
    "payload.host",
    "payload.value",
    "payload.unit",
    "payload.level",
    "payload.code",
    "payload.message",
}
RAW_COPY: Final = """
COPY (
    SELECT event_id, event_type, source, ts, received_at, payload FROM events
    WHERE ts >= %s AND ts < %s ORDER BY ts, event_id
) TO STDOUT (FORMAT BINARY)
"""


def raw_copy(dsn: str, since: datetime, until: datetime) -> int:
    """Bytes of the raw binary COPY of the rows the workbench loads, read and dropped."""
    read = 0
    with (
        psycopg.connect(dsn) as conn,
        conn.cursor() as cur,
        cur.copy(RAW_COPY, (since, until)) as copy,
    ):
        for data in copy:
            read += len(data)
    return read


def check(frame: Any, total: int, *, flattened: bool) -> None:
    if len(frame) != total or not frame["event_id"].is_unique:
        raise RuntimeError(f"the workbench loaded {len(frame)} rows of {total}")
    if not frame["ts"].is_monotonic_increasing:
        raise RuntimeError("the workbench's events are not in time order")
    payload = {c for c in frame.columns if c.startswith("payload")}
    expected = PAYLOAD_COLUMNS if flattened else {"payload"}
    if payload != expected:
        raise RuntimeError(f"payload columns {sorted(payload)}, expected {sorted(expected)}")


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def run(ctx: Context) -> None:
    pairs = build_events()
    total = len(pairs)
    dsn = ctx.target.database_url
    stored_s = store(dsn, pairs)
    since = min(e.ts for _, e in pairs)
    until = max(e.ts for _, e in pairs) + timedelta(seconds=1)
    del pairs
    gc.collect()
    flat_s: list[float] = []
    dicts_s: list[float] = []
    raw_s: list[float] = []
    raw_bytes = 0
    with Workbench.connect(
        database_url=dsn, redis_url=ctx.target.redis_url, namespace=ctx.target.namespace
    ) as wb:
        wb.events(since, since + timedelta(seconds=1))  # connections open, as in a session
        for _ in range(REPEATS):  # interleaved, so drift on the machine hits both alike
            seconds, raw_bytes = timed(lambda: raw_copy(dsn, since, until))
            raw_s.append(seconds)
            seconds, frame = timed(lambda: wb.events(since, until))
            check(frame, total, flattened=True)
            flat_s.append(seconds)
            del frame
            seconds, frame = timed(lambda: wb.events(since, until, flatten_payload=False))
            check(frame, total, flattened=False)
            dicts_s.append(seconds)
            del frame
    rate, raw = total / min(flat_s), total / min(raw_s)
    ctx.results.add(
        Row(
            f"workbench: events → pandas, payload flattened ({total:,} rows)",
            rate,
            "rows/s",
            "raw binary COPY of the same rows, nothing parsed",
            raw,
            f"≥ {RATE_TARGET:,.0f}/s",
            rate >= RATE_TARGET,
        )
    )
    ctx.results.details["workbench events → pandas"] = (
        f"best of {REPEATS}: flattened {min(flat_s):.2f} s ({rate:,.0f} rows/s, median "
        f"{total / statistics.median(flat_s):,.0f}), payload as dicts {min(dicts_s):.2f} s "
        f"({total / min(dicts_s):,.0f} rows/s), raw COPY {min(raw_s):.2f} s ({raw:,.0f} rows/s, "
        f"{raw_bytes / 1e6:.0f} MB); chunks of 50,000 rows; events stored by binary COPY + "
        f"VACUUM ANALYZE in {stored_s:.1f} s (not timed)"
    )
