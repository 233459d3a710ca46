"""Worker persistence: a pre-filled stream drained into PostgreSQL by one `eventpulse worker`.

The stream is filled with `events` events in the product's entry format (`entry_events` per
entry, as the API writes them under load) before the worker starts. The clock starts when the
worker's consumer first reads (it appears in XINFO CONSUMERS) — process start-up is reported
apart — and stops when every entry is delivered and acknowledged (the worker acks only after
its insert committed); `count(*)` then must equal `events`, polled until a deadline.
Baseline: the fastest raw insert of the same rows in the same batch size (baselines.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from benchmarks.baselines import reset_events
from benchmarks.context import Context
from benchmarks.cpu import machine_busy_s, process_cpu_s
from benchmarks.environment import Process, product
from benchmarks.profiling import profiled
from benchmarks.report import Row
from eventpulse.application.event_codec import ENTRY_FIELD, decode_entry
from eventpulse.infrastructure.redis_stream import GROUP

CONSUMER = "bench-worker"
RATE_TARGET = 35_000.0
RATIO_TARGET = 0.70
_POLL_S = 0.01


def prefill(client: redis.Redis, key: str, entries: list[bytes]) -> str:
    """Write the entries; the id of the last one."""
    client.delete(key)
    last = b""
    for i in range(0, len(entries), 8):
        pipe = client.pipeline(transaction=False)
        for body in entries[i : i + 8]:
            pipe.xadd(key, {ENTRY_FIELD: body})
        last = pipe.execute()[-1]
    return last.decode() if isinstance(last, bytes) else str(last)


def _consumer_seen(client: redis.Redis, key: str) -> bool:
    try:
        consumers: Any = client.xinfo_consumers(key, GROUP)
    except redis.ResponseError:  # NOGROUP: the worker has not created the group yet
        return False
    return any(_text(c["name"]) == CONSUMER for c in consumers)


def _all_acked(client: redis.Redis, key: str, last_id: str) -> bool:
    groups: Any = client.xinfo_groups(key)
    for group in groups:
        if _text(group["name"]) == GROUP:
            return _text(group["last-delivered-id"]) == last_id and int(group["pending"]) == 0
    return False


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _count(ctx: Context) -> int:
    with ctx.target.connect(autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM events").fetchone()
    return int(row[0]) if row else 0


def wait_until(what: str, probe: Any, process: Process, deadline: float) -> float:
    while not probe():
        if not process.alive():
            raise RuntimeError(f"worker exited while waiting for {what}:\n{process.tail()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}; worker log:\n{process.tail()}")
        time.sleep(_POLL_S)
    return time.perf_counter()


@dataclass(frozen=True)
class Drain:
    """One worker run over a pre-filled stream (perf_counter instants)."""

    spawned: float  # the worker process started
    started: float  # its consumer first read
    done: float  # every entry acknowledged
    cpu_s: float | None  # the worker's CPU time (user + system) from first read to all acked
    busy_s: float | None  # CPU time of the whole machine (every process) over the same span
    then: Any = None  # what `then` returned


def drain(
    ctx: Context,
    entries: list[bytes],
    total: int,
    *,
    name: str = "worker",
    profile: bool = True,
    then: Callable[[Process], Any] | None = None,
) -> Drain:
    """Pre-fill the stream with `entries`, run one worker until every entry is acknowledged
    and `total` rows are stored, then `then(worker)` while it still runs; the timings.

    Its log is `workdir/NAME.log`, its py-spy profile (with `--profile`, if `profile`) NAME."""
    cfg = ctx.config
    key = ctx.target.stream_key
    client = ctx.target.redis()
    try:
        last_id = prefill(client, key, entries)
        env = ctx.target.env(worker_read_count=cfg.read_count, max_entry_events=cfg.entry_events)
        deadline = time.monotonic() + cfg.persist_timeout_s
        spawned = time.perf_counter()
        with product(["worker", "--consumer", CONSUMER], env, ctx.workdir / f"{name}.log") as w:
            started = wait_until("the first read", lambda: _consumer_seen(client, key), w, deadline)
            cpu_at_start, busy_at_start = process_cpu_s(w.pid), machine_busy_s()
            expected_s = total / RATE_TARGET
            with profiled(cfg.profile_dir if profile else None, w, name, expected_s, ctx.results):
                done = wait_until(
                    "every entry acked", lambda: _all_acked(client, key, last_id), w, deadline
                )
            cpu_at_done, busy_at_done = process_cpu_s(w.pid), machine_busy_s()
            wait_until("all rows stored", lambda: _count(ctx) == total, w, deadline)
            extra = then(w) if then is not None else None
    finally:
        client.delete(key)
        client.close()
    return Drain(
        spawned,
        started,
        done,
        _minus(cpu_at_done, cpu_at_start),
        _minus(busy_at_done, busy_at_start),
        extra,
    )


def _minus(end: float | None, start: float | None) -> float | None:
    return None if end is None or start is None else end - start


def run(ctx: Context) -> None:
    cfg = ctx.config
    entries = ctx.entries()
    total = len(ctx.wire_events)
    _codec_costs(ctx, entries)
    reset_events(ctx.target.database_url)
    timing = drain(ctx, entries, total)
    spawned, started, done = timing.spawned, timing.started, timing.done
    rate = total / (done - started)
    best = ctx.baselines.get("insert_best")
    ratio_ok = best is not None and rate >= RATIO_TARGET * best
    ctx.results.add(
        Row(
            f"worker persistence ({total:,} events, {min(total, cfg.worker_batch_events):,}/batch)",
            rate,
            "events/s",
            f"fastest raw insert ({ctx.results.details.get('fastest raw insert', '?')})",
            best,
            f"≥ {RATE_TARGET:,.0f}/s and ≥ {RATIO_TARGET:.0%} of baseline",
            rate >= RATE_TARGET and ratio_ok,
        )
    )
    ctx.results.details["worker timing"] = (
        f"process start to first read {started - spawned:.2f} s; first read to all acked "
        f"{done - started:.2f} s; including start-up {total / (done - spawned):,.0f} events/s"
    )


def _codec_costs(ctx: Context, entries: list[bytes]) -> None:
    """In-process CPU cost of the worker's Python steps for the same events (no I/O)."""
    start = time.perf_counter()
    events = [event for entry in entries for event in decode_entry(entry)[0]]
    decoded = time.perf_counter()
    per_k = 1000 / max(1, len(events))
    ctx.results.details["worker CPU per 1,000 events (in-process)"] = (
        f"decode_entry {(decoded - start) * per_k * 1000:.2f} ms"
    )
