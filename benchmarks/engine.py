"""Rule engine throughput in backtest mode: `Evaluator.feed` over pre-built chunks of events.

The events (built here, deterministic): `EVENTS` events, one every `STEP_S` of event time
(200,000 over 80 minutes), from `HOSTS` hosts. 80% are `metric` events (payload `host`,
`value`, `unit`), 20% `log` events (payload `host`, `level`, `code`, `message`) that the metric
rules' filter rejects. Timestamps increase with up to `DISORDER_S` of disorder, within every
rule's 30 s lateness (so nothing is late: checked), and each event has the worker's arrival
key `(entry ms, 0, index)` of 500-event entries; the events are cut into chunks of 5,000,
RunBacktest's chunk size. Incidents make each rule type fire: in every third 5-minute window
one host's values double and it sends a burst of extra events, and three hosts are silent for
20 minutes.

1. Engine: a fresh `Evaluator` fed every chunk, timed from the first `feed` to the last;
   events/s over every event fed (in or out of the filter). Target, for `threshold` avg by
   host over 5-minute windows: at least 300,000 events/s on one core.
2. Raw baseline, same run, same chunks: a bare Python loop doing the least any engine must do:
   the filter test, the event time, the window and a dict entry per (window, group). It skips
   all of the engine's semantics: no watermark, lateness, ordering, deduplication or anomalies.
   The engine's threshold anomalies are checked against the loop's aggregates for every window
   the final watermark closed.
3. Full backtest: the same events stored in PostgreSQL (`events`, arrival keys included) and
   `RunBacktest.run` through `PostgresEventHistory` on a pool set up as the API's, against a raw
   SELECT: the history's own query through a server-side cursor, 5,000 rows per fetch, rows
   not made into events. The backtest's anomalies must equal those of (1).

Each measurement is repeated (`REPEATS`, `DB_REPEATS`), a measurement and its baseline in
turn so that drift on the machine hits both alike; the table shows the best run, the details
the median. The events are built before the clock starts and moved out of the garbage
collector's sight (`gc.freeze`): a real backtest holds one chunk at a time, not the whole set,
and the collector must not walk objects that only the benchmark keeps alive (the details give
the threshold rate without the freeze too).
"""

from __future__ import annotations

import asyncio
import gc
import math
import random
import statistics
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import psycopg
from psycopg.rows import tuple_row
from psycopg_pool import AsyncConnectionPool

from benchmarks.baselines import reset_events
from benchmarks.context import Context
from benchmarks.report import Row
from eventpulse.application.backtest import DEFAULT_CHUNK, BacktestResult, BacktestRule, RunBacktest
from eventpulse.application.rules import ManageRules, SilentAnnouncer
from eventpulse.domain.engine import Anomaly, Arrival, Evaluator
from eventpulse.domain.events import Event
from eventpulse.domain.rules import parse_rule
from eventpulse.infrastructure.postgres_history import RANGE_IN_ARRIVAL_ORDER, PostgresEventHistory
from eventpulse.infrastructure.postgres_rules import PostgresRuleRepository

EVENTS: Final = 200_000
HOSTS: Final = 100
STEP_S: Final = 0.024  # event time between two events: 41.7 events/s, ~100 per host per window
DISORDER_S: Final = 5.0
ENTRY_EVENTS: Final = 500
CHUNK: Final = DEFAULT_CHUNK
WIDTH: Final = 300  # the rules' 5-minute windows
REPEATS: Final = 3
DB_REPEATS: Final = 3
RATE_TARGET: Final = 300_000.0
TARGET_RULE: Final = "threshold-avg"
START: Final = datetime(2025, 3, 1, tzinfo=UTC)
SILENT_HOSTS: Final = frozenset({7, 42, 77})
SILENT_S: Final = (3000.0, 4200.0)  # seconds after START

AVG_ABOVE: Final = 80.0
COUNT_ABOVE: Final = 250
METRIC: Final = {"field": "event_type", "op": "eq", "value": "metric"}
LOG: Final = {"field": "event_type", "op": "eq", "value": "log"}
BY_HOST: Final = {"group_by": ["payload.host"], "lateness": "30s"}
RULES: Final[dict[str, dict[str, Any]]] = {
    "threshold-avg": {
        "name": "Host latency high",
        "type": "threshold",
        "filter": METRIC,
        "agg": "avg",
        "field": "payload.value",
        "window": "5m",
        "op": "gt",
        "value": AVG_ABOVE,
        **BY_HOST,
    },
    "threshold-count": {
        "name": "Host too chatty",
        "type": "threshold",
        "filter": METRIC,
        "agg": "count",
        "window": "5m",
        "op": "gt",
        "value": COUNT_ABOVE,
        **BY_HOST,
    },
    "match": {
        "name": "Error logged",
        "type": "match",
        "filter": {"all": [LOG, {"field": "payload.level", "op": "eq", "value": "error"}]},
        **BY_HOST,
    },
    "spike": {
        "name": "Metric burst",
        "type": "spike",
        "filter": METRIC,
        "window": "5m",
        "up": 2.5,
        "reference_windows": 3,
        "min_count": 20,
        **BY_HOST,
    },
    "absence": {
        "name": "Host silent",
        "type": "absence",
        "filter": METRIC,
        "window": "5m",
        "min_count": 1,
        "forget_after": "1h",
        **BY_HOST,
    },
    "new_value": {
        "name": "New error code",
        "type": "new_value",
        "filter": LOG,
        "field": "payload.code",
        "learning": "30m",
        "lookback": "1h",
        **BY_HOST,
    },
}
LABELS: Final = {
    "threshold-avg": "threshold avg(payload.value) > 80 by host, 5m",
    "threshold-count": "threshold count > 250 by host, 5m",
    "match": "match (error logs) by host",
    "spike": "spike up 2.5x vs 3 windows by host, 5m",
    "absence": "absence < 1 by host, 5m, forget 1h",
    "new_value": "new_value payload.code by host, learning 30m, lookback 1h",
}

Chunks = list[list[tuple[Arrival, Event]]]


# --- the events ------------------------------------------------------------------------------


def build_events(count: int = EVENTS, seed: int = 7) -> list[tuple[Arrival, Event]]:
    """`(arrival, event)` pairs in arrival order (see the module's docstring)."""
    rng = random.Random(seed)
    step, origin = STEP_S, START.timestamp()
    pairs: list[tuple[Arrival, Event]] = []
    for i in range(count):
        offset = i * step  # arrival time, seconds after START
        window = int(offset // WIDTH)
        incident = (window * 37) % HOSTS if window % 3 == 1 else None
        host = incident if incident is not None and rng.random() < 0.02 else rng.randrange(HOSTS)
        if host in SILENT_HOSTS and SILENT_S[0] <= offset < SILENT_S[1]:
            host = (host + 1) % HOSTS
        name = f"host-{host:03d}"
        payload: dict[str, Any]
        if rng.random() < 0.8:
            value = rng.lognormvariate(3.8, 0.3) * (2 if host == incident else 1)
            event_type, payload = "metric", {"host": name, "value": round(value, 2), "unit": "ms"}
        else:
            level = rng.choices(("info", "warn", "error"), (90, 9, 1))[0]
            code = f"E{min(int(rng.expovariate(0.12)), 99):02d}"
            event_type = "log"
            payload = {"host": name, "level": level, "code": code, "message": f"{level} {code}"}
        entry_start = origin + (i - i % ENTRY_EVENTS) * step
        arrival = (int(entry_start * 1000), 0, i % ENTRY_EVENTS)
        event = Event(
            event_id=uuid.UUID(int=rng.getrandbits(128), version=4),
            event_type=event_type,
            source=f"collector-{host % 4}",
            ts=datetime.fromtimestamp(origin + offset - rng.random() * DISORDER_S, UTC),
            payload=payload,
            received_at=datetime.fromtimestamp(origin + offset + 0.05, UTC),
            arrival=arrival,
        )
        pairs.append((arrival, event))
    return pairs


def chunked(pairs: list[tuple[Arrival, Event]], size: int = CHUNK) -> Chunks:
    return [pairs[i : i + size] for i in range(0, len(pairs), size)]


# --- (1) the engine --------------------------------------------------------------------------


@dataclass
class EngineRun:
    seconds: float
    evaluator: Evaluator
    anomalies: list[Anomaly]


def run_engine(name: str, chunks: Chunks) -> EngineRun:
    """A fresh evaluator of rule `name` fed every chunk; only the feeds are timed."""
    evaluator = Evaluator(name, 1, parse_rule(RULES[name]))
    anomalies: list[Anomaly] = []
    gc.collect()
    start = time.perf_counter()
    for chunk in chunks:
        anomalies += evaluator.feed(chunk)
    return EngineRun(time.perf_counter() - start, evaluator, anomalies)


# --- (2) raw loops: the least work any engine does ----------------------------------------------


def raw_avg(chunks: Chunks) -> dict[tuple[int, Any], list[float]]:
    """Filter, event time, window, and a sum and a count per (window, host)."""
    acc: dict[tuple[int, Any], list[float]] = {}
    for chunk in chunks:
        for _, event in chunk:
            if event.event_type == "metric":
                payload = event.payload
                key = (int(event.ts.timestamp() // WIDTH), payload.get("host"))
                total = acc.get(key)
                if total is None:
                    acc[key] = [payload["value"], 1]
                else:
                    total[0] += payload["value"]
                    total[1] += 1
    return acc


def raw_count(chunks: Chunks) -> dict[tuple[int, Any], int]:
    """Filter, event time, window, and a count per (window, host)."""
    acc: dict[tuple[int, Any], int] = {}
    for chunk in chunks:
        for _, event in chunk:
            if event.event_type == "metric":
                key = (int(event.ts.timestamp() // WIDTH), event.payload.get("host"))
                acc[key] = acc.get(key, 0) + 1
    return acc


def raw_match(chunks: Chunks) -> list[Event]:
    """The filter, and the matching events collected."""
    return [
        event
        for chunk in chunks
        for _, event in chunk
        if event.event_type == "log" and event.payload.get("level") == "error"
    ]


def raw_seen(chunks: Chunks) -> dict[tuple[Any, Any], float]:
    """Filter, event time, and the last time each (host, code) was seen."""
    seen: dict[tuple[Any, Any], float] = {}
    for chunk in chunks:
        for _, event in chunk:
            if event.event_type == "log":
                payload = event.payload
                seen[payload.get("host"), payload.get("code")] = event.ts.timestamp()
    return seen


RAW: Final[dict[str, tuple[str, Callable[[Chunks], Any]]]] = {
    "avg": ("raw loop: filter + dict sum & n per (window, host)", raw_avg),
    "count": ("raw loop: filter + dict count per (window, host)", raw_count),
    "match": ("raw loop: filter, matches collected", raw_match),
    "seen": ("raw loop: filter + dict last ts per (host, code)", raw_seen),
}
BASELINE_OF: Final = {
    "threshold-avg": "avg",
    "threshold-count": "count",
    "match": "match",
    "spike": "count",
    "absence": "count",
    "new_value": "seen",
}


def time_raw(fn: Callable[[Chunks], Any], chunks: Chunks) -> tuple[float, Any]:
    gc.collect()
    start = time.perf_counter()
    result = fn(chunks)
    return time.perf_counter() - start, result


# --- checks: the benchmark measures what it claims -------------------------------------------


def check_engine(name: str, run: EngineRun, raw: Any) -> None:
    counters, water = run.evaluator.counters, run.evaluator.watermark
    if (counters.late_dropped, counters.duplicates, counters.replayed) != (0, 0, 0):
        raise RuntimeError(f"{name}: the event set is not as designed: {counters}")
    if not run.anomalies:
        raise RuntimeError(f"{name}: no anomaly: the incidents do not make this rule fire")
    if name == "threshold-avg":
        expected = {
            (window * WIDTH, host): s / n
            for (window, host), (s, n) in raw.items()
            if s / n > AVG_ABOVE and (window + 1) * WIDTH <= water
        }
    elif name == "threshold-count":
        expected = {
            (window * WIDTH, host): n
            for (window, host), n in raw.items()
            if n > COUNT_ABOVE and (window + 1) * WIDTH <= water
        }
    elif name == "match":
        final = sum(1 for event in raw if event.ts.timestamp() < water)
        if len(run.anomalies) != final:
            raise RuntimeError(f"match: {len(run.anomalies)} anomalies for {final} final matches")
        return
    else:
        return
    found = {
        (int(a.window_start.timestamp()), a.group["payload.host"]): a.value for a in run.anomalies
    }
    if found.keys() != expected.keys() or not all(
        math.isclose(found[key] or 0.0, expected[key], rel_tol=1e-9) for key in expected
    ):
        raise RuntimeError(f"{name}: the engine's anomalies differ from the raw aggregates")


# --- (3) the full backtest over PostgreSQL ---------------------------------------------------

STORED_COLUMNS: Final = (
    "event_id, event_type, source, ts, payload, received_at, arrival_ms, arrival_seq, arrival_idx"
)
COPY_TYPES: Final = [
    "uuid",
    "text",
    "text",
    "timestamptz",
    "jsonb",
    "timestamptz",
    "int8",
    "int8",
    "int4",
]


def store(dsn: str, pairs: Sequence[tuple[Arrival, Event]]) -> float:
    """Empty `events`, then the events (binary COPY, as the worker's rows), then ANALYZE."""
    reset_events(dsn)
    start = time.perf_counter()
    with psycopg.connect(dsn) as conn:
        with (
            conn.cursor() as cur,
            cur.copy(f"COPY events ({STORED_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.set_types(COPY_TYPES)
            for _, e in pairs:
                copy.write_row(
                    (e.event_id, e.event_type, e.source, e.ts, e.payload, e.received_at, *e.arrival)
                )
        conn.commit()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE events")
    return time.perf_counter() - start


def api_pool(dsn: str) -> AsyncConnectionPool[Any]:
    """A pool set up as the API's (`eventpulse.interfaces.http.app`)."""
    return AsyncConnectionPool(
        dsn,
        min_size=0,
        max_size=4,
        open=False,
        timeout=5,
        kwargs={"connect_timeout": 5, "options": "-c timezone=UTC"},
    )


async def raw_select(pool: AsyncConnectionPool[Any], since: datetime, until: datetime) -> int:
    """The history's query through a server-side cursor, CHUNK rows per fetch; rows read."""
    rows = 0
    async with pool.connection() as conn:
        cursor = conn.cursor("bench_raw_history", row_factory=tuple_row)
        async with cursor as cur:
            cur.itersize = CHUNK
            await cur.execute(RANGE_IN_ARRIVAL_ORDER, (since, until))
            while batch := await cur.fetchmany(CHUNK):
                rows += len(batch)
    return rows


@dataclass
class DatabaseRuns:
    backtest_s: list[float]
    select_s: list[float]
    result: BacktestResult


async def run_backtests(dsn: str, name: str, since: datetime, until: datetime) -> DatabaseRuns:
    pool = api_pool(dsn)
    await pool.open(wait=True)
    try:
        history = PostgresEventHistory(pool)
        backtest = RunBacktest(
            history, ManageRules(PostgresRuleRepository(pool), SilentAnnouncer())
        )
        rule = BacktestRule(name, 1, parse_rule(RULES[name]))
        async with pool.connection() as conn:  # the API's pool has its connections open
            await conn.execute("SELECT 1")
        backtest_s, select_s = [], []
        for _ in range(DB_REPEATS):  # interleaved, so drift on the machine hits both alike
            gc.collect()
            start = time.perf_counter()
            result = await backtest.run(rule, since, until)
            backtest_s.append(time.perf_counter() - start)
            gc.collect()
            start = time.perf_counter()
            rows = await raw_select(pool, since, until)
            select_s.append(time.perf_counter() - start)
            if rows != result.summary.events_scanned:
                scanned = result.summary.events_scanned
                raise RuntimeError(f"raw SELECT read {rows} rows, the backtest {scanned}")
        return DatabaseRuns(backtest_s, select_s, result)
    finally:
        await pool.close()


# --- the step --------------------------------------------------------------------------------


def run(ctx: Context) -> None:
    built = time.perf_counter()
    pairs = build_events()
    chunks = chunked(pairs)
    total = len(pairs)
    built = time.perf_counter() - built
    gc.collect()
    gc.freeze()
    try:
        in_process = time.perf_counter()
        engine_runs = run_in_process(ctx, chunks, total)
        in_process = time.perf_counter() - in_process
        database = time.perf_counter()
        run_database(ctx, pairs, total, engine_runs[TARGET_RULE])
        database = time.perf_counter() - database
    finally:
        gc.unfreeze()
    metric = sum(1 for _, e in pairs if e.event_type == "metric")
    ctx.results.details["engine events"] = (
        f"{total:,} events ({metric / total:.0%} metric, the rest logs), {HOSTS} hosts, "
        f"{total * STEP_S / 60:.0f} min of event time, "
        f"disorder up to {DISORDER_S:.0f} s (lateness 30 s), "
        f"{len(chunks)} chunks of {CHUNK:,}"
    )
    ctx.results.details["engine step time"] = (
        f"events built in {built:.1f} s, in-process runs {in_process:.1f} s, "
        f"PostgreSQL part {database:.1f} s (storing included)"
    )


@contextmanager
def unfrozen() -> Iterator[None]:
    """The pre-built events back in the collector's sight, for one measurement."""
    gc.unfreeze()
    try:
        yield
    finally:
        gc.freeze()


def run_in_process(ctx: Context, chunks: Chunks, total: int) -> dict[str, EngineRun]:
    best_runs: dict[str, EngineRun] = {}
    for name in RULES:
        fn = RAW[BASELINE_OF[name]][1]
        raw_s: list[float] = []
        runs: list[EngineRun] = []
        unfrozen_s: list[float] = []
        for _ in range(REPEATS):  # interleaved, so drift on the machine hits both alike
            seconds, raw = time_raw(fn, chunks)
            raw_s.append(seconds)
            runs.append(run_engine(name, chunks))
            if name == TARGET_RULE:
                with unfrozen():
                    unfrozen_s.append(run_engine(name, chunks).seconds)
        best = min(runs, key=lambda r: r.seconds)
        check_engine(name, best, raw)
        best_runs[name] = best
        report_engine(ctx, name, total, runs, min(raw_s), unfrozen_s)
    return best_runs


def report_engine(
    ctx: Context,
    name: str,
    total: int,
    runs: list[EngineRun],
    raw_s: float,
    unfrozen_s: list[float],
) -> None:
    best = min(runs, key=lambda r: r.seconds)
    rate = total / best.seconds
    is_target = name == TARGET_RULE
    ctx.results.add(
        Row(
            f"engine: {LABELS[name]} ({total:,} events, {CHUNK:,}/feed)",
            rate,
            "events/s",
            RAW[BASELINE_OF[name]][0],
            total / raw_s,
            f"≥ {RATE_TARGET:,.0f}/s" if is_target else "",
            rate >= RATE_TARGET if is_target else None,
        )
    )
    median = statistics.median(total / r.seconds for r in runs)
    counters = best.evaluator.counters
    text = (
        f"best of {REPEATS} {rate:,.0f}, median {median:,.0f} events/s; "
        f"{len(best.anomalies)} anomalies, {counters.suppressed} suppressed; "
        f"raw loop best {total / raw_s:,.0f} events/s"
    )
    if unfrozen_s:
        text += (
            f"; without gc.freeze of the {total:,} pre-built events: best "
            f"{total / min(unfrozen_s):,.0f}, median {total / statistics.median(unfrozen_s):,.0f}"
            " events/s"
        )
    ctx.results.details[f"engine {name}"] = text


def run_database(
    ctx: Context, pairs: list[tuple[Arrival, Event]], total: int, engine: EngineRun
) -> None:
    dsn = ctx.target.database_url
    stored_s = store(dsn, pairs)
    since = min(e.ts for _, e in pairs)
    until = max(e.ts for _, e in pairs) + timedelta(seconds=1)
    runs = asyncio.run(run_backtests(dsn, TARGET_RULE, since, until))
    if runs.result.summary.events_scanned != total:
        raise RuntimeError(f"backtest scanned {runs.result.summary.events_scanned} of {total}")
    if [a.anomaly_id for a in runs.result.anomalies] != [a.anomaly_id for a in engine.anomalies]:
        raise RuntimeError("the backtest's anomalies differ from the engine's over the same events")
    rate, raw = total / min(runs.backtest_s), total / min(runs.select_s)
    ctx.results.add(
        Row(
            f"backtest: RunBacktest over PostgreSQL, {LABELS[TARGET_RULE]} ({total:,} rows)",
            rate,
            "events/s",
            f"raw SELECT of the same rows (server-side cursor, {CHUNK:,}/fetch)",
            raw,
        )
    )
    ctx.results.details["backtest over PostgreSQL"] = (
        f"best of {DB_REPEATS}: RunBacktest {min(runs.backtest_s):.2f} s, raw SELECT "
        f"{min(runs.select_s):.2f} s (medians {statistics.median(runs.backtest_s):.2f} / "
        f"{statistics.median(runs.select_s):.2f} s); events stored by binary COPY + VACUUM "
        f"ANALYZE in {stored_s:.1f} s (not timed)"
    )
