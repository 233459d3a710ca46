"""End-to-end latency: `POST /api/v1/events` → the anomaly on `WS /api/v1/ws/anomalies`.

One `eventpulse api` and one `eventpulse worker` (which starts its evaluator child itself), the
`match` rule `RULE` created through `POST /api/v1/rules` (its evaluation span must have started
before the load). An open-loop sender posts one event per request at `RATE` events/s for
`WARMUP_S` + `DURATION_S` seconds over `CONNECTIONS` keep-alive connections (request i is due
at start + i / RATE whatever happened to the earlier ones; a request due while every
connection is busy waits for one, which shows as send lag). Every `MARK_EVERY`th event has
`payload.mark = true`, so the rule makes one anomaly of it; a WebSocket client connected before
the load records when each arrives. Latency = WS message arrival - the instant just before its
event's POST was written (`time.perf_counter`, one process, one event loop). Only the events of
the measured span (after the warm-up) count, and every one of their anomalies must arrive
within `DEADLINE_S` of the last send, else the step fails.

The events carry no `timestamp`, so the API gives each its receive time: in one API process
that follows the ingest stream's order, so with `lateness: 0s` no marked event is ever late.
What the latency includes by the engine's semantics (domain/engine/SEMANTICS.md): a match
anomaly is final only once the watermark is past its event, i.e. once a *later* event (any
event, marked or not) has been evaluated. At 1,000 events/s the next event is posted about
1 ms later; when it is in a later stream entry than the marked one, the anomaly waits until
that entry is persisted too. That wait is part of the measured latency (the last events of the
run are unmarked, so every marked one has a successor).

Baselines, same run:
- the bare transport chain with no product code: the same open-loop schedule XADDs small
  entries (`m` = marked, `s` = sequence number) to a stream over as many connections; a relay
  process (`python -m benchmarks.latency_e2e relay`) reads them with XREADGROUP (count 100,
  block 500 ms, as the worker), PUBLISHes the marked ones' numbers and XACKs in one round trip;
  a Pub/Sub subscriber in this process records their arrival. Latency = arrival - the instant
  before the XADD call.
- the POST round trip (202) of the product run's own requests, next to the raw XADD round trip;
  and (details) a one-row INSERT + COMMIT round trip, the durable commit that persistence, the
  evaluation step and the outbox each wait for.

Breakdown (details): for each anomaly, from the timestamps along the chain — the API's receive
time (the event's `ts`), the ingest stream entry id (`events.arrival_ms`, Redis's clock), the
entry of the first later event (what makes the anomaly final), when the worker read that entry
and when it was persisted (acknowledged: the persisted frontier passed it), the anomaly's
`created_at` (the start of the evaluation step's storing transaction), its feed entry id (the
`cursor`, the XADD to `{ns}:anomalies`) and the WS arrival. All are one machine's wall clock, so
the segments add up to the end-to-end latency. Entry ids have millisecond resolution; read and
persisted times come from a sampler process (`python -m benchmarks.latency_e2e frontier`)
polling the consumer group as the evaluator does (XINFO GROUPS + XPENDING in one MULTI) every
`SAMPLE_MS` ms, so they are within about that of the truth, and the sampler's own load (a few
hundred Redis round trips a second) is part of the run. The same segments are given for the
slowest 1% of anomalies, which is where a p99 goes, with the CPU every process used meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import signal
import sys
import time
import uuid
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any, Final, cast

import httpx
import orjson
import psycopg
import redis
import redis.asyncio as aioredis
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from benchmarks.context import Context
from benchmarks.cpu import machine_busy_s, process_cpu_s
from benchmarks.environment import Process, free_port, product, running, wait_http
from benchmarks.loadgen import http_post, percentiles
from benchmarks.persist import wait_until
from benchmarks.persist_rules import reset
from benchmarks.report import Row
from eventpulse.infrastructure.redis_stream import GROUP

HOST: Final = "127.0.0.1"
EVENTS_PATH: Final = "/api/v1/events"
RATE: Final = 1000.0  # events/s, one event per request
WARMUP_S: Final = 3.0
DURATION_S: Final = 20.0
MARK_EVERY: Final = 10
CONNECTIONS: Final = 16
DEADLINE_S: Final = 15.0  # after the last send, for every anomaly to arrive
P99_TARGET_MS: Final = 250.0
RATE_KEPT: Final = 0.99  # the sender kept up: achieved rate >= 99% of RATE
SEND_LAG_NOTE_MS: Final = 5.0  # a p99 send lag above this is noted (bursty sends)
OTHER_WORK_NOTE: Final = 0.25  # cores used by processes outside the run, noted above this
SAMPLE_MS: Final = 2.0  # the frontier sampler's polling interval
COMMIT_PROBES: Final = 200
CONSUMER: Final = "bench-worker"
RULE_ID: Final = "mark"
RULE: Final = {
    "rule_id": RULE_ID,
    "name": "marked",
    "type": "match",
    "filter": {"field": "payload.mark", "op": "eq", "value": True},
    "lateness": "0s",
}
RAW_GROUP: Final = "relay"
STEPS: Final = "evaluation steps"  # a counter in the CPU snapshots
_HEAD_END: Final = b"\r\n\r\n"

EntryId = tuple[int, int]


@dataclass(frozen=True)
class Schedule:
    rate: float = RATE
    warmup_s: float = WARMUP_S
    duration_s: float = DURATION_S
    mark_every: int = MARK_EVERY

    @property
    def total(self) -> int:
        # A multiple of mark_every: the last marked event has mark_every - 1 successors.
        n = int(self.rate * (self.warmup_s + self.duration_s))
        return n - n % self.mark_every

    @property
    def first_measured(self) -> int:
        return int(self.rate * self.warmup_s)

    @property
    def span_s(self) -> float:
        return self.total / self.rate

    def marked(self, seq: int) -> bool:
        return seq % self.mark_every == 0

    def expected(self) -> list[int]:
        """The marked events of the measured span: each must produce one arrival."""
        return [i for i in range(self.first_measured, self.total) if self.marked(i)]


@dataclass
class Timeline:
    """perf_counter instants per event sequence number (nan: did not happen)."""

    total: int
    perf0: float = field(default_factory=time.perf_counter)
    wall0: float = field(default_factory=time.time)
    due: list[float] = field(default_factory=list)
    sent: list[float] = field(default_factory=list)
    answered: list[float] = field(default_factory=list)
    status: list[int] = field(default_factory=list)
    arrived: dict[int, float] = field(default_factory=dict)
    cursors: dict[int, str] = field(default_factory=dict)  # the feed cursor of each arrival
    duplicates: int = 0
    queued: int = 0
    errors: int = 0
    closed: str = ""  # why the receiving side ended early, if it did
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds over the send span

    def __post_init__(self) -> None:
        self.due = [math.nan] * self.total
        self.sent = [math.nan] * self.total
        self.answered = [math.nan] * self.total
        self.status = [0] * self.total

    def wall(self, instant: float) -> float:
        return self.wall0 + (instant - self.perf0)

    def arrive(self, seq: int, cursor: str = "") -> None:
        if seq in self.arrived:
            self.duplicates += 1
            return
        self.arrived[seq] = time.perf_counter()
        self.cursors[seq] = cursor


# --- the open-loop schedule ----------------------------------------------------------------


async def paced(schedule: Schedule, timeline: Timeline, send: Callable[[int], None]) -> None:
    """Call send(i) when request i is due (start + i / rate), whatever earlier ones did."""
    interval = 1.0 / schedule.rate
    start = time.perf_counter() + 0.01
    for i in range(schedule.total):
        due = start + i * interval
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        timeline.due[i] = due
        send(i)


class _HttpConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection carrying one request at a time."""

    def __init__(self, pool: _HttpPool) -> None:
        self._pool = pool
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._need = -1
        self._status = 0
        self.seq = -1

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def post(self, seq: int) -> None:
        assert self._transport is not None
        self.seq = seq
        self._pool.timeline.sent[seq] = time.perf_counter()
        self._transport.write(self._pool.requests[seq])

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while True:
            if self._need < 0:
                end = self._buffer.find(_HEAD_END)
                if end < 0:
                    return
                self._status, length = _parse_head(bytes(self._buffer[: end + 2]))
                self._need = end + len(_HEAD_END) + length
            if len(self._buffer) < self._need:
                return
            del self._buffer[: self._need]
            self._need = -1
            self._pool.answered(self, self._status)

    def connection_lost(self, exc: Exception | None) -> None:
        self._pool.lost(self)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


def _parse_head(head: bytes) -> tuple[int, int]:
    """Status and Content-Length of a response head."""
    lowered = head.lower()
    at = lowered.find(b"\r\ncontent-length:")
    if at < 0:
        return int(head[9:12]), 0
    start = at + len(b"\r\ncontent-length:")
    return int(head[9:12]), int(lowered[start : lowered.index(b"\r\n", start)])


class _HttpPool:
    """Requests go out on an idle connection at once, else wait (FIFO) for the first free."""

    def __init__(self, timeline: Timeline, requests: Sequence[bytes]) -> None:
        self.timeline = timeline
        self.requests = requests
        self._idle: deque[_HttpConnection] = deque()
        self._backlog: deque[int] = deque()
        self._all: list[_HttpConnection] = []
        self.outstanding = 0
        self.settled = asyncio.Event()

    async def open(self, host: str, port: int, connections: int) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(connections):
            _, conn = await loop.create_connection(lambda: _HttpConnection(self), host, port)
            self._idle.append(conn)
            self._all.append(conn)

    def send(self, seq: int) -> None:
        self.outstanding += 1
        self.settled.clear()
        if self._idle:
            self._idle.popleft().post(seq)
        else:
            self.timeline.queued += 1
            self._backlog.append(seq)

    def answered(self, conn: _HttpConnection, status: int) -> None:
        self.timeline.answered[conn.seq] = time.perf_counter()
        self.timeline.status[conn.seq] = status
        self._done_one()
        if self._backlog:
            conn.post(self._backlog.popleft())
        else:
            self._idle.append(conn)

    def lost(self, conn: _HttpConnection) -> None:
        if conn in self._idle:
            self._idle.remove(conn)
        elif conn.seq >= 0 and math.isnan(self.timeline.answered[conn.seq]):
            self.timeline.errors += 1
            self._done_one()

    def _done_one(self) -> None:
        self.outstanding -= 1
        if self.outstanding == 0:
            self.settled.set()

    def close(self) -> None:
        for conn in self._all:
            conn.close()


# --- the product run -----------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """The events as posted: request bytes and event ids (str) → sequence numbers."""

    requests: list[bytes]
    ids: dict[str, int]


def probe_events(schedule: Schedule, port: int) -> Probe:
    requests: list[bytes] = []
    ids: dict[str, int] = {}
    for i in range(schedule.total):
        event_id = str(uuid.uuid4())
        ids[event_id] = i
        body = orjson.dumps(
            {
                "event_id": event_id,
                "event_type": "latency_probe",
                "source": f"bench-{i % 8}",
                "payload": {
                    "seq": i,
                    "mark": schedule.marked(i),
                    "region": "eu-west-1",
                    "path": f"/api/v1/orders/{i % 1000}",
                    "latency_ms": 12.5,
                },
            }
        )
        requests.append(http_post(HOST, port, EVENTS_PATH, body))
    return Probe(requests, ids)


async def _watch(url: str, probe: Probe, timeline: Timeline, ready: asyncio.Event) -> None:
    """Record every anomaly message's arrival until the server closes (or cancelled)."""
    try:
        async with ws_connect(url, max_size=None, ping_interval=None) as ws:
            ready.set()
            async for message in ws:
                document = orjson.loads(message)
                anomaly = document.get("anomaly")
                if anomaly is None:
                    continue  # a heartbeat
                seq = probe.ids.get(anomaly.get("details", {}).get("event_id"), -1)
                if seq >= 0:
                    timeline.arrive(seq, document["cursor"])
    except ConnectionClosed as exc:
        timeline.closed = f"WebSocket closed: {exc}"
    timeline.closed = timeline.closed or "WebSocket closed by the server"


async def _until_all_arrived(
    timeline: Timeline, want: list[int], receiver: asyncio.Task[None], deadline_s: float
) -> None:
    deadline = time.perf_counter() + deadline_s
    while time.perf_counter() < deadline and not receiver.done():
        if all(seq in timeline.arrived for seq in want):
            return
        await asyncio.sleep(0.02)


async def _product_load(
    port: int, schedule: Schedule, probe: Probe, cpu: Callable[[], dict[str, float]]
) -> Timeline:
    timeline = Timeline(schedule.total)
    ready = asyncio.Event()
    url = f"ws://{HOST}:{port}/api/v1/ws/anomalies?rule_id={RULE_ID}"
    receiver = asyncio.create_task(_watch(url, probe, timeline, ready))
    await asyncio.wait_for(ready.wait(), 10.0)
    pool = _HttpPool(timeline, probe.requests)
    await pool.open(HOST, port, CONNECTIONS)
    try:
        before = cpu()
        await paced(schedule, timeline, pool.send)
        timeline.cpu = _cpu_spent(before, cpu())
        await _until_all_arrived(timeline, schedule.expected(), receiver, DEADLINE_S)
        await asyncio.wait_for(pool.settled.wait(), 10.0)
    finally:
        pool.close()
        receiver.cancel()
        await asyncio.gather(receiver, return_exceptions=True)
    return timeline


def _event_loop_run(coroutine: Coroutine[Any, Any, Timeline]) -> Timeline:
    try:
        import uvloop

        return uvloop.run(coroutine)
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        return asyncio.run(coroutine)


def _rule_live(ctx: Context) -> bool:
    with ctx.target.connect(autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM rule_evaluations WHERE rule_id = %s AND ended_ms IS NULL",
            (RULE_ID,),
        ).fetchone()
    return bool(row and row[0])


def product_run(ctx: Context, schedule: Schedule) -> tuple[Timeline, Probe, Progress]:
    env = ctx.target.env(max_entry_events=ctx.config.entry_events)
    port = free_port()
    probe = probe_events(schedule, port)
    logs = ctx.workdir
    samples = logs / "latency-frontier.json"
    sampler_argv = [sys.executable, "-m", "benchmarks.latency_e2e", "frontier"]
    sampler_argv += [ctx.target.redis_url, ctx.target.stream_key, str(samples)]
    sampler_argv += [str(schedule.span_s + DEADLINE_S + 60)]
    with (
        product(["worker", "--consumer", CONSUMER], env, logs / "latency-worker.log") as worker,
        product(["api", "--port", str(port)], env, logs / "latency-api.log") as api,
    ):
        wait_http(api, f"http://{HOST}:{port}/api/v1/ready")
        answer = httpx.post(f"http://{HOST}:{port}/api/v1/rules", json=RULE, timeout=30.0)
        if answer.status_code != 201:
            raise RuntimeError(f"creating the rule: {answer.status_code} {answer.text}")
        wait_until("the rule's evaluation to start", lambda: _rule_live(ctx), worker, _in(30))
        with (
            running(sampler_argv, env, logs / "latency-sampler.log") as sampler,
            ctx.target.connect(autocommit=True) as conn,
        ):
            wait_until("the sampler", samples.with_suffix(".started").exists, sampler, _in(30))
            pids = _ProcessGroups(ctx, conn, api, worker, sampler)
            timeline = _event_loop_run(_product_load(port, schedule, probe, pids.snapshot))
            sampler.stop()
        if not worker.alive() or not api.alive():
            raise RuntimeError(f"a product process died:\n{worker.tail()}\n{api.tail()}")
    return timeline, probe, Progress.load(samples)


# --- the raw chain (no product code) -------------------------------------------------------


async def _raw_load(redis_url: str, stream: str, channel: str, schedule: Schedule) -> Timeline:
    timeline = Timeline(schedule.total)
    # As many connections as the HTTP sender; a command waits for a free one (its wait counts).
    pool = aioredis.BlockingConnectionPool.from_url(redis_url, max_connections=CONNECTIONS)
    client = aioredis.Redis(connection_pool=pool)
    listener = aioredis.Redis.from_url(redis_url)
    pubsub = listener.pubsub()
    await pubsub.subscribe(channel)
    while (await pubsub.get_message(timeout=1.0) or {}).get("type") != "subscribe":
        pass

    async def listen() -> None:
        while True:
            message = await pubsub.get_message(timeout=1.0)
            if message is not None and message["type"] == "message":
                timeline.arrive(int(message["data"]))

    fields = [
        {"m": b"1" if schedule.marked(i) else b"0", "s": str(i).encode(), "e": b"x" * 150}
        for i in range(schedule.total)
    ]
    pending: set[asyncio.Task[Any]] = set()

    def send(seq: int) -> None:
        timeline.sent[seq] = time.perf_counter()
        task = asyncio.create_task(client.xadd(stream, fields[seq]))  # type: ignore[arg-type]
        pending.add(task)
        task.add_done_callback(lambda t: _xadd_done(timeline, seq, t, pending))

    listening = asyncio.create_task(listen())
    try:
        await paced(schedule, timeline, send)
        if pending:
            await asyncio.wait(pending, timeout=10.0)
        await _until_all_arrived(timeline, schedule.expected(), listening, DEADLINE_S)
    finally:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await listener.aclose()
        await client.aclose()
        await pool.aclose()
    return timeline


def _xadd_done(timeline: Timeline, seq: int, task: asyncio.Task[Any], pending: set[Any]) -> None:
    pending.discard(task)
    timeline.answered[seq] = time.perf_counter()
    if task.cancelled() or task.exception() is not None:
        timeline.errors += 1
    else:
        timeline.status[seq] = 200


def raw_run(ctx: Context, schedule: Schedule) -> Timeline:
    stream = f"{ctx.target.namespace}:latency-raw"
    channel = f"{ctx.target.namespace}:latency-raw:live"
    client = ctx.target.redis()
    try:
        client.delete(stream)
        client.xgroup_create(stream, RAW_GROUP, id="$", mkstream=True)
        seconds = schedule.span_s + DEADLINE_S + 30
        argv = [sys.executable, "-m", "benchmarks.latency_e2e", "relay", ctx.target.redis_url]
        argv += [stream, channel, str(seconds)]
        with running(argv, ctx.target.env(), ctx.workdir / "latency-relay.log") as relay:
            wait_until("the relay", lambda: _relay_connected(client, stream), relay, _in(30))
            timeline = _event_loop_run(_raw_load(ctx.target.redis_url, stream, channel, schedule))
    finally:
        client.delete(stream)
        client.close()
    return timeline


def _relay_connected(client: redis.Redis, stream: str) -> bool:
    consumers: Any = client.xinfo_consumers(stream, RAW_GROUP)
    return bool(consumers)


def commit_round_trips(ctx: Context, count: int = COMMIT_PROBES) -> dict[str, float]:
    """What one durable commit costs here (the worker's insert, the evaluation step and the
    outbox mark each wait for one): a one-row INSERT + COMMIT into a logged table, `count`
    times."""
    times: list[float] = []
    with ctx.target.connect(autocommit=True) as conn:
        conn.execute("CREATE TABLE latency_commit_probe (n int)")
        try:
            for n in range(count):
                began = time.perf_counter()
                conn.execute("INSERT INTO latency_commit_probe VALUES (%s)", (n,))
                times.append(time.perf_counter() - began)
        finally:
            conn.execute("DROP TABLE latency_commit_probe")
    return percentiles(times)


# --- helper processes: `python -m benchmarks.latency_e2e relay|frontier ...` ----------------


def _stop_flag() -> Callable[[], bool]:
    """Whether SIGTERM arrived (the helpers also stop by themselves after `seconds`)."""
    stopping: list[bool] = []
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.append(True))
    return lambda: bool(stopping)


def relay_main(argv: list[str]) -> None:
    """The raw chain's consumer: XREADGROUP → PUBLISH the marked → XACK, until SIGTERM or
    `seconds`."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.latency_e2e relay")
    for name in ("redis_url", "stream", "channel"):
        parser.add_argument(name)
    parser.add_argument("seconds", type=float)
    args = parser.parse_args(argv)
    stopped = _stop_flag()
    client = redis.Redis.from_url(args.redis_url)
    client.xgroup_createconsumer(args.stream, RAW_GROUP, "relay")  # the benchmark waits for it
    deadline = time.monotonic() + args.seconds
    while not stopped() and time.monotonic() < deadline:
        reply: Any = client.xreadgroup(RAW_GROUP, "relay", {args.stream: ">"}, count=100, block=500)
        if not reply:
            continue
        entries = reply[0][1]
        pipe = client.pipeline(transaction=False)
        for _, fields in entries:
            if fields.get(b"m") == b"1":
                pipe.publish(args.channel, fields[b"s"])
        pipe.xack(args.stream, RAW_GROUP, *[entry_id for entry_id, _ in entries])
        pipe.execute()
    client.close()


def frontier_main(argv: list[str]) -> None:
    """Sample the worker group's last delivered entry and persisted frontier (as
    infrastructure/redis_frontier.py reads it) every SAMPLE_MS ms; write the changes (wall
    time, delivered ms, seq, frontier ms, seq) as JSON to OUT at SIGTERM or after `seconds`."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.latency_e2e frontier")
    for name in ("redis_url", "stream", "out"):
        parser.add_argument(name)
    parser.add_argument("seconds", type=float)
    args = parser.parse_args(argv)
    stopped = _stop_flag()
    client = redis.Redis.from_url(args.redis_url)
    out = Path(args.out)
    samples: list[tuple[float, int, int, int, int]] = []
    previous_at = time.time()
    last: tuple[int, int, int, int] | None = None
    deadline = time.monotonic() + args.seconds
    out.with_suffix(".started").touch()
    while not stopped() and time.monotonic() < deadline:
        began = time.time()
        state = _group_state(client, args.stream)
        at = (began + time.time()) / 2
        if state is not None and state != last:
            samples.append(((previous_at + at) / 2, *state))  # it changed in between
            last = state
        previous_at = at
        time.sleep(SAMPLE_MS / 1000)
    out.write_bytes(orjson.dumps(samples))
    client.close()


def _group_state(client: redis.Redis, stream: str) -> tuple[int, int, int, int] | None:
    pipe = client.pipeline(transaction=True)
    pipe.xinfo_groups(stream)
    pipe.xpending(stream, GROUP)
    try:
        groups, pending = pipe.execute()
    except redis.ResponseError:  # no stream or group yet
        return None
    info = next((g for g in groups if _text(g["name"]) == GROUP), None)
    if info is None:
        return None
    delivered = _entry_id(_text(info["last-delivered-id"]))
    if pending["pending"] and pending["min"]:
        frontier = _entry_id(_text(pending["min"]))
    else:
        frontier = (delivered[0], delivered[1] + 1)
    return (*delivered, *frontier)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _entry_id(text: str) -> EntryId:
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


@dataclass(frozen=True)
class Progress:
    """The sampled group state: when each entry was read by the worker, and persisted."""

    times: list[float]
    delivered: list[EntryId]  # last delivered entry, non-decreasing
    frontier: list[EntryId]  # persisted frontier (exclusive), non-decreasing

    @classmethod
    def load(cls, path: Path) -> Progress:
        rows = orjson.loads(path.read_bytes()) if path.exists() else []
        return cls([r[0] for r in rows], [(r[1], r[2]) for r in rows], [(r[3], r[4]) for r in rows])

    def read_at(self, entry: EntryId) -> float:
        """When the worker's XREADGROUP delivered `entry` (the last delivered id reached it)."""
        return self._at(bisect_left(self.delivered, entry))

    def persisted_at(self, entry: EntryId) -> float:
        """When `entry` was persisted and acknowledged (the frontier passed it)."""
        return self._at(bisect_right(self.frontier, entry))

    def _at(self, index: int) -> float:
        return self.times[index] if index < len(self.times) else math.nan


# --- where the time goes -------------------------------------------------------------------


@dataclass(frozen=True)
class Chain:
    """Wall-clock instants (epoch seconds) along one anomaly's way."""

    sent: float
    api_received: float  # the event's received_at (= its ts)
    entry: float  # its ingest stream entry id (ms)
    final_entry: float  # the entry of the first later event: what makes the anomaly final
    final_read: float  # the worker read that entry (sampled)
    final_persisted: float  # that entry persisted and acknowledged (sampled)
    created: float  # anomalies.created_at: the evaluation step's storing transaction
    published: float  # anomalies.published_at: after the feed XADD + PUBLISH
    feed: float  # the feed entry id (ms): the anomaly's XADD to {ns}:anomalies
    arrived: float  # the WS message
    later_entry: bool  # the later event was in another entry than the marked one
    entry_persisted: float  # the marked event's own entry persisted (sampled)


SEGMENTS: Final = (
    ("client → API receive", "sent", "api_received"),
    ("API receive → ingest XADD", "api_received", "entry"),
    ("→ entry of a later event (finality)", "entry", "final_entry"),
    ("→ that entry read by the worker", "final_entry", "final_read"),
    ("→ persisted (insert committed, XACK)", "final_read", "final_persisted"),
    ("→ anomaly stored (evaluation step; created_at)", "final_persisted", "created"),
    ("→ feed XADD (step commit, outbox read)", "created", "feed"),
    ("→ WS arrival (Pub/Sub, API, WS)", "feed", "arrived"),
)


def chains(
    ctx: Context, timeline: Timeline, probe: Probe, progress: Progress, seqs: list[int]
) -> list[Chain]:
    """The chain of each anomaly that arrived, from the database, the feed and the clocks."""
    with ctx.target.connect(autocommit=True) as conn:
        events = conn.execute(
            "SELECT event_id::text, arrival_ms, arrival_seq,"
            " extract(epoch FROM received_at)::float8 FROM events"
            " ORDER BY arrival_ms, arrival_seq, arrival_idx"
        ).fetchall()
        stored = conn.execute(
            "SELECT details->>'event_id', extract(epoch FROM created_at)::float8,"
            " extract(epoch FROM published_at)::float8 FROM anomalies WHERE rule_id = %s",
            (RULE_ID,),
        ).fetchall()
    received = [row[3] for row in events]
    position = {row[0]: n for n, row in enumerate(events)}
    anomalies = {row[0]: (row[1], row[2]) for row in stored}
    by_seq = {seq: event_id for event_id, seq in probe.ids.items()}
    out: list[Chain] = []
    for seq in seqs:
        event_id = by_seq[seq]
        n = position.get(event_id, -1)
        later = bisect_right(received, received[n], lo=n) if n >= 0 else len(events)
        if seq not in timeline.arrived or event_id not in anomalies or later >= len(events):
            continue
        final: EntryId = (events[later][1], events[later][2])
        created, published = anomalies[event_id]
        out.append(
            Chain(
                sent=timeline.wall(timeline.sent[seq]),
                api_received=received[n],
                entry=events[n][1] / 1000,
                final_entry=final[0] / 1000,
                final_read=progress.read_at(final),
                final_persisted=progress.persisted_at(final),
                created=created,
                published=math.nan if published is None else published,
                feed=int(timeline.cursors[seq].split("-")[0]) / 1000,
                arrived=timeline.wall(timeline.arrived[seq]),
                later_entry=final != (events[n][1], events[n][2]),
                entry_persisted=progress.persisted_at((events[n][1], events[n][2])),
            )
        )
    return out


def breakdown(found: list[Chain]) -> dict[str, str]:
    """Each segment's p50 / p90 / p99, and its mean over the slowest 1% of anomalies."""
    if not found:
        return {}
    total = [c.arrived - c.sent for c in found]
    order = sorted(range(len(found)), key=total.__getitem__)
    tail = [found[i] for i in order[-max(1, len(found) // 100) :]]
    lines: dict[str, str] = {}
    for label, start, end in SEGMENTS:
        values = [getattr(c, end) - getattr(c, start) for c in found]
        tail_values = [getattr(c, end) - getattr(c, start) for c in tail]
        lines[label] = f"{_pct(values)}; slowest 1%: mean {_mean_ms(tail_values)}"
    lines["end to end (the sum of the segments)"] = (
        f"{_pct(total)}; slowest 1%: mean {_mean_ms([c.arrived - c.sent for c in tail])}"
    )
    waited = sum(1 for c in found if c.later_entry)
    lines["anomalies made final by an event of a later stream entry"] = (
        f"{waited} of {len(found)} ({waited / len(found):.0%}); what waiting for it cost (that"
        " entry persisted - the marked event's entry persisted): "
        + _pct([c.final_persisted - c.entry_persisted for c in found])
    )
    stored_at = sorted({c.created for c in found})
    gaps = [b - a for a, b in pairwise(stored_at)]
    lines["between evaluation steps that stored anomalies (distinct created_at)"] = _pct(gaps)
    lines["created_at → published_at (after feed XADD + PUBLISH)"] = _pct(
        [c.published - c.created for c in found]
    )
    return lines


def _pct(values: Sequence[float]) -> str:
    return _ms(percentiles([v for v in values if not math.isnan(v)]))


def _ms(p: dict[str, float]) -> str:
    return f"p50 {p['p50']:.1f} ms, p90 {p['p90']:.1f}, p99 {p['p99']:.1f}, max {p['max']:.1f}"


def _mean_ms(values: Sequence[float]) -> str:
    clean = [v for v in values if not math.isnan(v)]
    return f"{1000 * sum(clean) / len(clean):.1f} ms" if clean else "—"


# --- the step ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    latency_ms: dict[str, float]
    received: int
    expected: int
    round_trip_ms: dict[str, float]
    send_lag_ms: dict[str, float]
    achieved_per_s: float
    non_2xx: int

    @property
    def kept_up(self) -> bool:
        return self.achieved_per_s >= RATE_KEPT * RATE


def measure(timeline: Timeline, schedule: Schedule) -> Measured:
    want = schedule.expected()
    got = [seq for seq in want if seq in timeline.arrived]
    sent = [t for t in timeline.sent if not math.isnan(t)]
    span = sent[-1] - sent[0] if len(sent) > 1 else math.nan
    measured = range(schedule.first_measured, schedule.total)
    answered = [i for i in measured if not math.isnan(timeline.answered[i])]
    return Measured(
        latency_ms=percentiles([timeline.arrived[seq] - timeline.sent[seq] for seq in got]),
        received=len(got),
        expected=len(want),
        round_trip_ms=percentiles([timeline.answered[i] - timeline.sent[i] for i in answered]),
        send_lag_ms=percentiles([timeline.sent[i] - timeline.due[i] for i in measured]),
        achieved_per_s=(len(sent) - 1) / span if span > 0 else 0.0,
        non_2xx=sum(1 for s in timeline.status if not 200 <= s < 300),
    )


def run(ctx: Context) -> None:
    schedule = Schedule()
    _clean(ctx)
    commit_ms = commit_round_trips(ctx)
    raw = raw_run(ctx, schedule)
    try:
        timeline, probe, progress = product_run(ctx, schedule)
        found = chains(ctx, timeline, probe, progress, schedule.expected())
        failure = _failure(ctx, timeline, probe, schedule)
    finally:
        _clean(ctx)
    product_numbers, raw_numbers = measure(timeline, schedule), measure(raw, schedule)
    report(ctx, product_numbers, raw_numbers)
    _details(ctx, product_numbers, raw_numbers, timeline, commit_ms)
    for label, text in breakdown(found).items():
        ctx.results.details[f"latency breakdown: {label}"] = text
    if failure:
        raise RuntimeError(failure)


def _clean(ctx: Context) -> None:
    """No events, anomalies, rules or evaluation state; no ingest stream or anomaly feed."""
    reset(ctx, {})
    client = ctx.target.redis()
    try:
        ns = ctx.target.namespace
        client.delete(ctx.target.stream_key, f"{ns}:anomalies", f"{ns}:latency-raw")
    finally:
        client.close()


def _failure(ctx: Context, timeline: Timeline, probe: Probe, schedule: Schedule) -> str:
    """Why the step fails ('' if it does not): missing anomalies or refused events."""
    want = schedule.expected()
    lost = [seq for seq in want if seq not in timeline.arrived]
    refused = [i for i in range(schedule.total) if not 200 <= timeline.status[i] < 300]
    if not lost and not refused:
        return ""
    by_seq = {seq: event_id for event_id, seq in probe.ids.items()}
    lost_ids = [by_seq[seq] for seq in lost]
    with ctx.target.connect(autocommit=True) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM events WHERE event_id::text = ANY(%s)),"
            " (SELECT count(*) FROM anomalies WHERE details->>'event_id' = ANY(%s)),"
            " (SELECT count(*) FROM anomalies WHERE details->>'event_id' = ANY(%s)"
            " AND published_at IS NOT NULL)",
            (lost_ids, lost_ids, lost_ids),
        ).fetchone()
    stored, anomalies, published = row if row else (0, 0, 0)
    return (
        f"latency step: {len(lost)} of {len(want)} anomalies did not arrive on the WebSocket"
        f" within {DEADLINE_S:g} s of the last send (first missing: {lost[:5]}; of the missing,"
        f" {stored} events stored, {anomalies} anomalies stored, {published} published;"
        f" {timeline.closed or 'WebSocket still open'}); {len(refused)} POSTs not answered 2xx"
    )


def report(ctx: Context, product: Measured, raw: Measured) -> None:
    results = ctx.results
    lat, base = product.latency_ms, raw.latency_ms
    what = f"{RATE:,.0f} events/s, 1 in {MARK_EVERY} an anomaly"
    raw_label = "raw XADD → XREADGROUP → PUBLISH → subscriber"
    for key in ("p50", "p90"):
        label = f"end-to-end latency {key}, POST → WS ({what})"
        results.add(Row(label, lat[key], "ms", raw_label, base[key], higher_is_better=False))
    complete = product.received == product.expected
    results.add(
        Row(
            "end-to-end latency p99, POST → WS",
            lat["p99"],
            "ms",
            raw_label,
            base["p99"],
            f"< {P99_TARGET_MS:g} ms, every anomaly received",
            lat["p99"] < P99_TARGET_MS and complete,
            higher_is_better=False,
        )
    )
    label = "end-to-end latency max, POST → WS"
    results.add(Row(label, lat["max"], "ms", raw_label, base["max"], higher_is_better=False))
    results.add(
        Row(
            f"anomalies received on the WebSocket ({WARMUP_S:g} s warm-up excluded)",
            float(product.received),
            "anomalies",
            "marked events posted",
            float(product.expected),
            f"all, within {DEADLINE_S:g} s of the last send",
            complete,
        )
    )
    for key in ("p50", "p99"):
        results.add(
            Row(
                f"POST /api/v1/events round trip (202) {key}, same run",
                product.round_trip_ms[key],
                "ms",
                "raw XADD round trip, same schedule",
                raw.round_trip_ms[key],
                higher_is_better=False,
            )
        )
    results.add(
        Row(
            "latency step: achieved send rate",
            product.achieved_per_s,
            "events/s",
            "raw chain sender",
            raw.achieved_per_s,
            f"≥ {RATE_KEPT:.0%} of {RATE:,.0f}/s",
            product.kept_up,
        )
    )


def _details(
    ctx: Context, product: Measured, raw: Measured, timeline: Timeline, commit_ms: dict[str, float]
) -> None:
    results = ctx.results
    details = results.details
    schedule = Schedule()
    details["latency step: load"] = (
        f"{schedule.total:,} POSTs of one event at {RATE:,.0f}/s over {CONNECTIONS} keep-alive"
        f" connections ({WARMUP_S:g} s warm-up + {DURATION_S:g} s measured), every"
        f" {MARK_EVERY}th marked; rule `{RULE_ID}`: match payload.mark = true, lateness 0s"
    )
    details["latency step: end to end"] = _ms(product.latency_ms) + (
        f"; {product.received}/{product.expected} received, {timeline.duplicates} duplicates"
    )
    details["latency step: raw chain"] = _ms(raw.latency_ms) + (
        f"; {raw.received}/{raw.expected} received"
    )
    details["latency step: sender"] = (
        f"{product.achieved_per_s:,.0f} events/s sent; send lag {_ms(product.send_lag_ms)};"
        f" {timeline.queued} requests found every connection busy; {product.non_2xx} non-2xx"
    )
    details["latency step: PostgreSQL commit round trip (one-row INSERT, before the load)"] = _ms(
        commit_ms
    )
    cpu = {k: v / schedule.span_s for k, v in timeline.cpu.items() if k != STEPS}
    other = cpu.get("machine", math.nan) - sum(v for k, v in cpu.items() if k != "machine")
    details["latency step: CPU over the send span (cores)"] = ", ".join(
        f"{name} {cores:.2f}" for name, cores in cpu.items()
    ) + (f"; other work on the machine {other:.2f}" if not math.isnan(other) else "")
    steps = timeline.cpu.get(STEPS, math.nan)
    details["latency step: evaluation steps over the send span"] = (
        f"{steps:,.0f}, one every {1000 * schedule.span_s / steps:.1f} ms on average"
    )
    _notes(ctx, product, other)


def _notes(ctx: Context, product: Measured, other_cores: float) -> None:
    if not product.kept_up:
        ctx.results.note(
            f"latency step: the sender fell behind ({product.achieved_per_s:,.0f} events/s):"
            " not the product's latency at the stated rate"
        )
    if product.send_lag_ms["p99"] > SEND_LAG_NOTE_MS:
        ctx.results.note(
            f"latency step: p99 send lag {product.send_lag_ms['p99']:.1f} ms: sends came in"
            " bursts (latency is measured from the actual send, so the lag is not in it)"
        )
    if other_cores > OTHER_WORK_NOTE:
        ctx.results.note(
            f"latency step: other work used {other_cores:.2f} cores of the machine during the"
            " load: the latencies are those of a shared machine"
        )


# --- process CPU ---------------------------------------------------------------------------


class _ProcessGroups:
    """CPU seconds so far of each process of the run, by role (Linux /proc; a process whose
    counters cannot be read, e.g. a server on another machine, is left out)."""

    def __init__(
        self,
        ctx: Context,
        conn: psycopg.Connection[Any],
        api: Process,
        worker: Process,
        sampler: Process,
    ) -> None:
        self._conn = conn
        client = ctx.target.redis()
        try:
            server: Any = client.info("server")
            redis_pid = int(server.get("process_id", 0))
        finally:
            client.close()
        self._fixed = {
            "api": [api.pid],
            "worker": [worker.pid],
            "evaluator": _spawned_children(worker.pid),
            "redis": [redis_pid] if _named(redis_pid, b"redis") else [],
            "benchmark": [os.getpid()],
            "sampler": [sampler.pid],
        }

    def snapshot(self) -> dict[str, float]:
        """`role/pid` → CPU seconds, `machine` → every core's busy seconds, and the
        evaluation step counter."""
        pids = self._conn.execute("SELECT pid FROM pg_stat_activity").fetchall()
        pg = [pid for (pid,) in pids if _named(pid, b"postgres")]  # a local server only
        found: dict[str, float] = {}
        for role, pids in {**self._fixed, "postgresql": pg}.items():
            for pid in pids:
                seconds = process_cpu_s(pid)
                if seconds is not None:
                    found[f"{role}/{pid}"] = seconds
        busy = machine_busy_s()
        if busy is not None:
            found["machine"] = busy
        row = self._conn.execute("SELECT steps FROM evaluation_cursor").fetchone()
        found[STEPS] = float(row[0]) if row else math.nan
        return found


def _cpu_spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Per role, the CPU seconds its processes (those alive at both instants) used between."""
    spent: dict[str, float] = {}
    for key in before.keys() & after.keys():
        role = key.split("/", 1)[0]
        spent[role] = spent.get(role, 0.0) + after[key] - before[key]
    order = ["api", "worker", "evaluator", "postgresql", "redis", "benchmark", "sampler"]
    return dict(sorted(spent.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99))


def _spawned_children(pid: int) -> list[int]:
    """The multiprocessing children (spawn_main) of a process: the worker's evaluator."""
    children: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            children += [int(c) for c in (task / "children").read_text().split()]
        return [c for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]
    except OSError:
        return []


def _named(pid: int, prefix: bytes) -> bool:
    """Whether local process `pid` runs a program whose name starts with `prefix`."""
    try:
        return pid > 0 and Path(f"/proc/{pid}/comm").read_bytes().startswith(prefix)
    except OSError:
        return False


def _in(seconds: float) -> float:
    return time.monotonic() + seconds


HELPERS: Final = {"relay": relay_main, "frontier": frontier_main}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in HELPERS:
        sys.exit("usage: python -m benchmarks.latency_e2e relay|frontier ARGS")
    HELPERS[sys.argv[1]](sys.argv[2:])
