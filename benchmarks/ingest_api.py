"""API ingest: batch and single-event POSTs against one `eventpulse api` process.

- Batch: wrk POSTs 1,000-event bodies to /api/v1/events/batch from a few connections;
  events/s = 2xx answers * events per body. Baseline: raw XADD, one 500-event entry each.
- Single, maximum: wrk POSTs one event per request to /api/v1/events; requests/s.
  Baselines: a bare ASGI app on the same uvicorn settings (no framework, no Redis), and the
  same bare app doing one awaited XADD per request (the floor of a durable single ingest).
- Single, fixed rate: the open-loop generator (benchmarks/loadgen.py) at `fixed_rate` req/s;
  latency p50/p99 from the scheduled send time. Baseline: the same load against the bare app.

Only the API runs (no worker): the stream is deleted between phases so it stays below the
high-water mark.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson

from benchmarks import loadgen, wrk
from benchmarks.context import Context
from benchmarks.environment import Process, free_port, product, running, wait_http
from benchmarks.profiling import profiled
from benchmarks.report import Row
from benchmarks.workload import payload_bytes, producer_events

HOST = "127.0.0.1"
BATCH_PATH = "/api/v1/events/batch"
SINGLE_PATH = "/api/v1/events"

BATCH_TARGET = 60_000.0
SINGLE_TARGET = 8_000.0
P99_TARGET_MS = 10.0


@contextmanager
def api_process(ctx: Context) -> Iterator[tuple[Process, int]]:
    port = free_port()
    # No worker runs in this step: readiness must not wait for one.
    env = ctx.target.env(max_entry_events=ctx.config.entry_events, ready_requires_worker=False)
    log = ctx.workdir / "api.log"
    with product(["api", "--port", str(port)], env, log) as process:
        wait_http(process, f"http://{HOST}:{port}/api/v1/ready")
        yield process, port


@contextmanager
def bare_process(ctx: Context, *, xadd: bool) -> Iterator[tuple[Process, int]]:
    port = free_port()
    argv = [sys.executable, "-m", "benchmarks.null_server", "--port", str(port)]
    if xadd:
        argv += ["--redis-url", ctx.target.redis_url, "--key", f"{ctx.target.namespace}:bare"]
    log = ctx.workdir / f"bare{'-xadd' if xadd else ''}.log"
    with running(argv, ctx.target.env(), log) as process:
        wait_http(process, f"http://{HOST}:{port}/health")
        yield process, port


def _drop_streams(ctx: Context) -> None:
    client = ctx.target.redis()
    try:
        client.delete(ctx.target.stream_key, f"{ctx.target.namespace}:bare")
    finally:
        client.close()


def _wrk(ctx: Context, port: int, path: str, body: bytes, connections: int) -> wrk.WrkResult:
    url = f"http://{HOST}:{port}{path}"
    cfg = ctx.config
    if cfg.warmup_s > 0:
        wrk.post(url, body, ctx.workdir / "wrk", connections=connections, duration_s=cfg.warmup_s)
        _drop_streams(ctx)
    return wrk.post(
        url, body, ctx.workdir / "wrk", connections=connections, duration_s=cfg.wrk_duration_s
    )


def _single_requests(port: int, count: int = 64) -> list[bytes]:
    return [
        loadgen.http_post(HOST, port, SINGLE_PATH, orjson.dumps(event))
        for event in producer_events(count, seed=7)
    ]


def _fixed(ctx: Context, port: int) -> loadgen.LoadResult:
    cfg = ctx.config
    return loadgen.fixed_rate(
        HOST,
        port,
        _single_requests(port),
        rate=cfg.fixed_rate,
        duration_s=cfg.fixed_duration_s,
        connections=cfg.fixed_connections,
    )


def _check(what: str, result: wrk.WrkResult) -> None:
    if result.socket_errors or result.non_2xx:
        print(
            f"  warning: {what}: {result.non_2xx} non-2xx answers, "
            f"{result.socket_errors} socket errors of {result.requests}"
        )


def _describe(result: loadgen.LoadResult) -> str:
    lat, lag = result.latency_ms, result.send_lag_ms
    return (
        f"{result.completed}/{result.sent} ok at {result.achieved_per_s:,.0f}/s, "
        f"latency p50 {lat['p50']:.2f} p90 {lat['p90']:.2f} p99 {lat['p99']:.2f} "
        f"p99.9 {lat['p999']:.2f} max {lat['max']:.2f} ms; "
        f"send lag p99 {lag['p99']:.2f} max {lag['max']:.2f} ms; "
        f"{result.queued} waited for a connection; {result.non_2xx} non-2xx, "
        f"{result.errors} errors; generator kept up: {'yes' if result.kept_up else 'NO'}"
    )


def run_baselines(ctx: Context) -> None:
    """The bare-ASGI baselines (no product process)."""
    cfg = ctx.config
    single_body = orjson.dumps(producer_events(1, seed=7)[0])
    with bare_process(ctx, xadd=False) as (_, port):
        bare = _wrk(ctx, port, SINGLE_PATH, single_body, cfg.single_connections)
        _check("bare ASGI", bare)
        floor = _fixed(ctx, port)
    ctx.baselines["bare_rps"] = bare.ok_per_s
    ctx.baselines["bare_p50"] = floor.latency_ms["p50"]
    ctx.baselines["bare_p99"] = floor.latency_ms["p99"]
    ctx.results.details["fixed-rate generator vs bare ASGI app"] = _describe(floor)
    if not floor.kept_up:
        ctx.results.note(
            f"the open-loop generator did NOT keep up with {cfg.fixed_rate:,.0f} req/s against "
            "the bare app: its latency numbers include generator delay"
        )
    with bare_process(ctx, xadd=True) as (_, port):
        bare_xadd = _wrk(ctx, port, SINGLE_PATH, single_body, cfg.single_connections)
        _check("bare ASGI + XADD", bare_xadd)
    ctx.baselines["bare_xadd_rps"] = bare_xadd.ok_per_s
    _drop_streams(ctx)


def run(ctx: Context) -> None:
    cfg = ctx.config
    results = ctx.results
    run_baselines(ctx)
    documents = producer_events(cfg.batch_events)
    batch_body = orjson.dumps(documents)
    single_body = orjson.dumps(documents[0])
    results.details["batch body"] = (
        f"{cfg.batch_events} events, {len(batch_body):,} bytes, "
        f"mean payload {payload_bytes(documents):.0f} bytes"
    )
    with api_process(ctx) as (api, port):
        with profiled(cfg.profile_dir, api, "api-batch", cfg.wrk_duration_s, results):
            batch = _wrk(ctx, port, BATCH_PATH, batch_body, cfg.batch_connections)
        _check("API batch", batch)
        _verify_batch_entries(ctx, batch)
        _drop_streams(ctx)
        with profiled(cfg.profile_dir, api, "api-single", cfg.wrk_duration_s, results):
            single = _wrk(ctx, port, SINGLE_PATH, single_body, cfg.single_connections)
        _check("API single", single)
        _drop_streams(ctx)
        time.sleep(0.5)
        usage = ProcessUsage(api.pid)
        fixed = _fixed(ctx, port)
        results.details[f"API process during the {cfg.fixed_rate:,.0f} req/s run"] = usage.done()
        _drop_streams(ctx)

    batch_rate = batch.ok_per_s * cfg.batch_events
    results.add(
        Row(
            f"API batch ingest ({cfg.batch_events}-event bodies, {cfg.batch_connections} conns)",
            batch_rate,
            "events/s",
            f"raw XADD, {cfg.entry_events} events/entry",
            ctx.baselines.get("xadd_entry"),
            f"≥ {BATCH_TARGET:,.0f}/s",
            batch_rate >= BATCH_TARGET,
        )
    )
    results.details["API batch (wrk)"] = (
        f"{batch.ok_per_s:,.1f} req/s, latency p50 {batch.p50_ms:.1f} ms, p99 {batch.p99_ms:.1f} ms"
    )
    results.add(
        Row(
            f"API single-event ingest, max ({cfg.single_connections} conns, wrk)",
            single.ok_per_s,
            "req/s",
            "bare ASGI app, same uvicorn settings",
            ctx.baselines["bare_rps"],
            f"≥ {SINGLE_TARGET:,.0f}/s",
            single.ok_per_s >= SINGLE_TARGET,
        )
    )
    results.add(
        Row(
            "  same, vs bare ASGI + 1 awaited XADD per request",
            single.ok_per_s,
            "req/s",
            "bare ASGI app + XADD",
            ctx.baselines["bare_xadd_rps"],
        )
    )
    results.details["API single max (wrk)"] = (
        f"latency under saturation p50 {single.p50_ms:.1f} ms, p99 {single.p99_ms:.1f} ms"
    )
    results.add(
        Row(
            f"API single-event latency p50 at {cfg.fixed_rate:,.0f} req/s",
            fixed.latency_ms["p50"],
            "ms",
            "bare ASGI app, same load",
            ctx.baselines["bare_p50"],
            higher_is_better=False,
        )
    )
    results.add(
        Row(
            f"API single-event latency p99 at {cfg.fixed_rate:,.0f} req/s",
            fixed.latency_ms["p99"],
            "ms",
            "bare ASGI app, same load",
            ctx.baselines["bare_p99"],
            f"< {P99_TARGET_MS:.0f} ms",
            fixed.latency_ms["p99"] < P99_TARGET_MS and fixed.errors == 0,
            higher_is_better=False,
        )
    )
    results.details["fixed-rate generator vs API"] = _describe(fixed)
    if not fixed.kept_up:
        results.note(
            f"the open-loop generator fell behind while loading the API (send lag p99 "
            f"{fixed.send_lag_ms['p99']:.1f} ms; it kept up against the bare app): latencies "
            "still count from the scheduled send time, so they include that wait"
        )


class ProcessUsage:
    """CPU time and thread count of a process over an interval (Linux /proc)."""

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self._start = time.perf_counter()
        self._cpu = self._cpu_s()

    def _cpu_s(self) -> float:
        try:
            fields = Path(f"/proc/{self._pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return float("nan")

    def done(self) -> str:
        elapsed = time.perf_counter() - self._start
        share = (self._cpu_s() - self._cpu) / elapsed
        try:
            threads = str(len(os.listdir(f"/proc/{self._pid}/task")))
        except OSError:
            threads = "?"
        return f"{100 * share:.0f}% of one core, {threads} threads"


def _verify_batch_entries(ctx: Context, batch: wrk.WrkResult) -> None:
    """Every 202 wrote its events: the stream holds at least 2xx * events / entry size entries."""
    client = ctx.target.redis()
    try:
        entries = int(client.xlen(ctx.target.stream_key))
    finally:
        client.close()
    expected = batch.ok_requests * ctx.config.batch_events // ctx.config.entry_events
    if entries < expected:
        raise RuntimeError(f"stream holds {entries} entries; {expected} expected after the batch")
