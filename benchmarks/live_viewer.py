"""The notebook live anomaly viewer (`eventpulse/workbench/live_viewer.py`) fed from Redis.

The anomalies are appended by a publisher process (`python -m benchmarks.live_viewer publish`)
with `RedisAnomalyFeed.publish`, exactly as the evaluating worker does (XADD to
`{ns}:anomalies` in a MULTI, then PUBLISH of `{"cursor", "anomaly"}` on `{ns}:anomalies:live`,
then the trim check); the documents have the worker's shape (`anomaly_id`, `rule_id`,
`severity`, `group`, window, `ts`, `value`, `message`, `details`, `created_at`), 8 rules, 3
severities, 20 hosts. The viewer is the product's: `RedisLiveSource` (its reading thread:
subscribe, confirm, backfill, then Pub/Sub into the inbox) and `LiveViewer` with its own pump
thread (default interval, `PUMP_INTERVAL_S` = 0.25 s, at most `MAX_BATCH` = 5,000 anomalies a
pump), in this process, no frontend attached: the widgets still compute and serialise their
state on every change (ipywidgets hands the messages to comm's dummy comm, which drops them).
"Shown" = the pump that took the anomaly from the inbox has folded it into the state and
redrawn the widgets: a subclass of `LiveViewer` notes the ids each `state.apply` receives (a
`LiveState` subclass) and stamps them when its `pump()` returns. Clocks: `CLOCK_MONOTONIC` in
both processes (one machine, one clock).

1. Burst: `BURST` anomalies published as fast as the publisher can, `BURST_BATCH` per
   `publish` call, to a viewer with an inbox larger than the burst (so nothing is dropped;
   drops would be counted and fail the check); first publish → the last of them shown,
   anomalies/s. The cost of one pump applying a batch of `MAX_BATCH` anomalies to the widgets,
   ms (a viewer with a hand-fed source and a manual pump, state already holding `keep`
   anomalies, as in a session; best of `PUMP_REPEATS`).
2. Steady: `STEADY_RATE` anomalies/s for `STEADY_S` s, one per `publish` call on a fixed
   schedule; per anomaly, publish (the instant before the call) → shown; p50/p99. The pump
   runs every 0.25 s, so an anomaly waits ~125 ms on average for it: that floor is by design.
3. Raw baselines, same run, same publisher, same documents and schedules, in runs of their own
   (interleaved): a plain redis-py Pub/Sub subscriber thread on the same channel, decoding each
   message and noting its id (no state, no widgets); for the pump, `LiveState.apply` alone on
   the same batches (the state fold without any widget).

Every run is checked: every id published is shown (received) exactly once, none dropped, no
other; the viewer's counters agree (received - duplicates = published, dropped = 0). A run that
does not complete within `DEADLINE_S` of its last publish is reported as such (rows marked NO),
not hidden.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import orjson
import redis

from benchmarks.context import Context
from benchmarks.environment import running
from benchmarks.loadgen import percentiles
from benchmarks.report import Row
from eventpulse.infrastructure.redis_anomaly_feed import RedisAnomalyFeed, feed_key, live_channel
from eventpulse.workbench.live_source import READ_TIMEOUT_S, RedisLiveSource
from eventpulse.workbench.live_state import Inbox, Item, LiveState, Received, Status

BURST: Final = 20_000
BURST_BATCH: Final = 100  # anomalies per publish call in the burst
STEADY_RATE: Final = 200.0  # anomalies/s
STEADY_S: Final = 10.0
INBOX: Final = BURST + 1_000  # larger than the burst: a drop would be the viewer's, not ours
PUMP_REPEATS: Final = 5
DEADLINE_S: Final = 15.0  # after the last publish, for every anomaly to be shown
POLL_S: Final = 0.005
RULES: Final = tuple(f"rule-{n}" for n in range(8))
SEVERITIES: Final = ("critical", "warning", "info")
EPOCH: Final = datetime(2026, 11, 27, tzinfo=UTC)


def now() -> float:
    """One clock for this process and the publisher's (Linux: system-wide)."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def document(prefix: str, n: int) -> dict[str, Any]:
    """An anomaly document as the evaluating worker appends it (tests/integration/ws_support)."""
    ts = EPOCH + timedelta(seconds=n)
    return {
        "anomaly_id": f"{prefix}-{n:06d}",
        "rule_id": RULES[n % len(RULES)],
        "rule_version": 1,
        "severity": SEVERITIES[n % len(SEVERITIES)],
        "group": {"host": f"web-{n % 20}"},
        "window_start": (ts - timedelta(minutes=5)).isoformat(),
        "window_end": ts.isoformat(),
        "ts": ts.isoformat(),
        "value": float(n),
        "message": f"anomaly {n} on web-{n % 20}",
        "details": {},
        "created_at": (ts + timedelta(seconds=1)).isoformat(),
    }


# --- what is measured --------------------------------------------------------------------------


class StampingState(LiveState):
    """`LiveState` that also notes the ids of the anomalies each `apply` is given."""

    def __init__(self, *, keep: int) -> None:
        super().__init__(keep=keep)
        self.applied: list[str] = []

    def apply(self, items: Iterable[Item], dropped: int = 0) -> bool:
        batch = list(items)
        self.applied += [str(i.anomaly.get("anomaly_id")) for i in batch if isinstance(i, Received)]
        return super().apply(batch, dropped)


_viewer_class: Any = None  # TimedViewer, made on first use


def timed_viewer(source: RedisLiveSource, inbox_size: int) -> Any:
    """`LiveViewer(source, inbox_size=...)` (autostart, the default pump interval) whose pump
    stamps the anomalies it applied once it has redrawn: `shown_at` id → instant."""
    global _viewer_class
    if _viewer_class is None:  # imported late: ipywidgets and plotly take a second to import,
        from eventpulse.workbench.live_viewer import LiveViewer  # the publisher needs neither

        class TimedViewer(LiveViewer):
            def __init__(self, source: RedisLiveSource, inbox_size: int) -> None:
                super().__init__(source, inbox_size=inbox_size, autostart=False)
                self.state = StampingState(keep=self.state.keep)
                self.shown_at: dict[str, float] = {}
                self.repeats = 0
                self.pumps: list[tuple[int, float]] = []  # (anomalies applied, seconds)
                self.start()  # as autostart=True does, with the stamping state in place

            def pump(self) -> bool:  # called by the viewer's own pump thread only
                started = now()
                changed = super().pump()
                done = now()
                state = self.state
                assert isinstance(state, StampingState)
                applied, state.applied = state.applied, []
                for anomaly_id in applied:
                    if anomaly_id in self.shown_at:
                        self.repeats += 1
                    else:
                        self.shown_at[anomaly_id] = done
                if applied:
                    self.pumps.append((len(applied), done - started))
                return changed

        _viewer_class = TimedViewer
    return _viewer_class(source, inbox_size)


class RawSubscriber:
    """The baseline: a redis-py Pub/Sub subscriber thread, as the viewer's source reads (same
    `get_message` timeout), each message decoded and its id noted; no state, no widgets."""

    def __init__(self, redis_url: str, channel: str) -> None:
        self._url = redis_url
        self._channel = channel
        self.shown_at: dict[str, float] = {}
        self.repeats = 0
        self.error = ""
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="raw-subscriber", daemon=True)

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError(f"the raw subscriber did not subscribe: {self.error}")

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(5.0)

    def _run(self) -> None:
        client = redis.Redis.from_url(self._url)
        pubsub = client.pubsub()  # type: ignore[no-untyped-call]
        try:
            pubsub.subscribe(self._channel)
            while not self._ready.is_set() and not self._stopping.is_set():
                message = pubsub.get_message(timeout=READ_TIMEOUT_S)
                if message is not None and message["type"] == "subscribe":
                    self._ready.set()
            while not self._stopping.is_set():
                message = pubsub.get_message(timeout=READ_TIMEOUT_S)
                if message is None or message["type"] != "message":
                    continue
                anomaly_id = orjson.loads(message["data"])["anomaly"]["anomaly_id"]
                at = now()
                if anomaly_id in self.shown_at:
                    self.repeats += 1
                else:
                    self.shown_at[anomaly_id] = at
        except Exception as exc:  # reported by the run's check
            self.error = repr(exc)
        finally:
            pubsub.close()
            client.close()


@dataclass
class Run:
    """One publisher run against one receiver (the viewer or the raw subscriber)."""

    name: str
    ids: list[str]
    sent: list[float]  # per anomaly: the instant before its publish call
    due: list[float]  # per anomaly, steady runs: when its publish was due
    published: float  # the last publish call returned
    shown_at: dict[str, float]
    repeats: int
    counters: dict[str, int] = field(default_factory=dict)  # the viewer's
    pumps: list[tuple[int, float]] = field(default_factory=list)  # the viewer's
    cores: float = float("nan")  # this process's CPU use, first publish → the end of the wait

    @property
    def missing(self) -> int:
        return len(self.ids) - len(set(self.ids) & self.shown_at.keys())

    @property
    def foreign(self) -> int:
        return len(self.shown_at.keys() - set(self.ids))

    @property
    def complete(self) -> bool:
        viewer_ok = not self.counters or (
            self.counters["received"] - self.counters["duplicates"] == len(self.ids)
            and self.counters["dropped"] == 0
        )
        return self.missing == 0 and self.foreign == 0 and self.repeats == 0 and viewer_ok

    @property
    def span_s(self) -> float:
        """First publish → the last anomaly shown."""
        return max(self.shown_at.values()) - self.sent[0] if self.complete else float("nan")

    @property
    def rate(self) -> float:
        return len(self.ids) / self.span_s

    def latencies(self) -> list[float]:
        return [self.shown_at[i] - t for i, t in zip(self.ids, self.sent, strict=True)]

    def check_text(self) -> str:
        text = (
            f"{len(self.ids) - self.missing:,}/{len(self.ids):,} ids seen, {self.repeats} "
            f"repeats, {self.foreign} foreign"
        )
        if self.counters:
            c = self.counters
            text += (
                f"; viewer counters: received {c['received']:,}, duplicates {c['duplicates']}, "
                f"dropped {c['dropped']}, waiting {c['waiting']}"
            )
        return text


def publish_and_wait(
    ctx: Context, name: str, receiver: Any, count: int, rate: float, batch: int
) -> Run:
    """Start the publisher process; wait until it is done and `receiver.shown_at` holds every
    id, or DEADLINE_S after its last publish."""
    out = ctx.workdir / f"live-viewer-{name}.json"
    argv = [sys.executable, "-m", "benchmarks.live_viewer", "publish", ctx.target.redis_url]
    argv += [_namespace(ctx), name, str(count), str(rate), str(batch), str(out)]
    bound = 30.0 + (count / rate if rate > 0 else 30.0)
    started = now()
    cpu: list[tuple[float, float]] = []  # (instant, this process's CPU seconds), every poll
    with running(argv, ctx.target.env(), ctx.workdir / f"live-viewer-{name}.log") as publisher:
        while publisher.alive():
            if now() - started > bound:
                raise RuntimeError(f"the publisher ({name}) took over {bound:.0f} s")
            cpu.append((now(), time.process_time()))
            time.sleep(POLL_S)
        if publisher.popen.returncode != 0:
            raise RuntimeError(f"the publisher ({name}) failed:\n{publisher.tail()}")
    record = orjson.loads(out.read_bytes())
    deadline = record["published"] + DEADLINE_S
    while len(receiver.shown_at) < count and now() < deadline:
        cpu.append((now(), time.process_time()))
        time.sleep(POLL_S)
    cpu.append((now(), time.process_time()))
    ids = [f"{name}-{n:06d}" for n in range(count)]
    shown_at = dict(receiver.shown_at)
    run = Run(
        name, ids, record["sent"], record["due"], record["published"], shown_at, receiver.repeats
    )
    run.cores = _cores(cpu, record["sent"][0])
    return run


def _cores(samples: list[tuple[float, float]], since: float) -> float:
    """This process's CPU use (cores) from the last sample before `since` to the end."""
    first = max((s for s in samples if s[0] <= since), default=samples[0])
    last = samples[-1]
    return (last[1] - first[1]) / max(1e-9, last[0] - first[0])


def _namespace(ctx: Context) -> str:
    return f"{ctx.target.namespace}:live"  # removed with the run's namespace


def _fresh_feed(ctx: Context) -> None:
    """Each run starts on an empty feed stream: the viewer's backfill finds nothing."""
    client = ctx.target.redis()
    try:
        client.delete(feed_key(_namespace(ctx)))
    finally:
        client.close()


def viewer_run(ctx: Context, name: str, count: int, rate: float, batch: int) -> Run:
    _fresh_feed(ctx)
    source = RedisLiveSource(ctx.target.redis_url, _namespace(ctx))
    viewer = timed_viewer(source, INBOX)
    try:
        if not viewer.wait_live(10.0):
            raise RuntimeError(f"the live viewer did not go live: {viewer.state.status}")
        run = publish_and_wait(ctx, name, viewer, count, rate, batch)
        run.counters = viewer.counters()
        run.pumps = list(viewer.pumps)
    finally:
        viewer.stop()
    return run


def raw_run(ctx: Context, name: str, count: int, rate: float, batch: int) -> Run:
    _fresh_feed(ctx)
    subscriber = RawSubscriber(ctx.target.redis_url, live_channel(_namespace(ctx)))
    subscriber.start()
    try:
        run = publish_and_wait(ctx, name, subscriber, count, rate, batch)
    finally:
        subscriber.stop()
    if subscriber.error:
        raise RuntimeError(f"the raw subscriber failed: {subscriber.error}")
    return run


# --- one pump's cost ---------------------------------------------------------------------------


class HandSource:
    """A source the benchmark feeds by hand (the `LiveSource` protocol, as the unit tests')."""

    def __init__(self) -> None:
        self.inbox: Inbox | None = None

    def start(self, inbox: Inbox) -> None:
        self.inbox = inbox

    def resync(self) -> None:
        raise RuntimeError("the hand-fed viewer dropped anomalies")

    def stop(self, timeout: float = 5.0) -> None:
        pass


@dataclass
class PumpCost:
    pump_s: list[float]
    apply_s: list[float]
    idle_s: list[float]
    batch: int


def pump_cost() -> PumpCost:
    from eventpulse.workbench.live_viewer import MAX_BATCH, LiveViewer

    batches = [
        [
            Received(f"1800000000000-{b * MAX_BATCH + n}", document(f"p{b}", n))
            for n in range(MAX_BATCH)
        ]
        for b in range(PUMP_REPEATS + 1)
    ]
    source = HandSource()
    viewer = LiveViewer(source, interval_s=0, inbox_size=MAX_BATCH)  # a manual pump
    state = LiveState(keep=viewer.state.keep)
    assert source.inbox is not None
    inbox = source.inbox
    pump_s: list[float] = []
    apply_s: list[float] = []
    idle_s: list[float] = []
    try:
        inbox.put(Status(True, "live"))
        viewer.pump()
        for b, batch in enumerate(batches):  # the first pair warms up: state full, as in use
            for item in batch:
                inbox.put(item)
            gc.collect()
            start = time.perf_counter()
            viewer.pump()
            pumped = time.perf_counter() - start
            gc.collect()
            start = time.perf_counter()
            state.apply(batch)
            applied = time.perf_counter() - start
            start = time.perf_counter()
            viewer.pump()  # nothing new: counters and status lines only
            idle = time.perf_counter() - start
            if b > 0:
                pump_s.append(pumped)
                apply_s.append(applied)
                idle_s.append(idle)
        counters = viewer.counters()
    finally:
        viewer.stop()
    expected = len(batches) * MAX_BATCH
    if counters["received"] != expected or counters["duplicates"] or counters["waiting"]:
        raise RuntimeError(f"the hand-fed viewer applied {counters}, expected {expected:,}")
    if state.counters.received != expected or len(state.shown()) != state.keep:
        raise RuntimeError(f"the bare state applied {state.counters}, expected {expected:,}")
    return PumpCost(pump_s, apply_s, idle_s, MAX_BATCH)


# --- the step ----------------------------------------------------------------------------------


def run(ctx: Context) -> None:
    from eventpulse.workbench.live_viewer import MAX_BATCH, PUMP_INTERVAL_S

    cost = pump_cost()
    raw_burst = raw_run(ctx, "rawburst", BURST, 0.0, BURST_BATCH)
    burst = viewer_run(ctx, "burst", BURST, 0.0, BURST_BATCH)
    steady_count = int(STEADY_RATE * STEADY_S)
    raw_steady = raw_run(ctx, "rawsteady", steady_count, STEADY_RATE, 1)
    steady = viewer_run(ctx, "steady", steady_count, STEADY_RATE, 1)
    interval_ms = PUMP_INTERVAL_S * 1000

    results = ctx.results
    results.add(
        Row(
            f"live viewer burst: {BURST:,} anomalies published ({BURST_BATCH}/publish) → all "
            f"shown (pump every {PUMP_INTERVAL_S} s)",
            burst.rate,
            "anomalies/s",
            "raw redis-py Pub/Sub subscriber, same burst",
            raw_burst.rate,
        )
    )
    results.add(
        Row(
            f"live viewer: one pump applying {cost.batch:,} anomalies to the widgets",
            min(cost.pump_s) * 1000,
            "ms",
            "LiveState.apply alone, same batches (no widgets)",
            min(cost.apply_s) * 1000,
            higher_is_better=False,
        )
    )
    steady_latency = percentiles(steady.latencies()) if steady.complete else {}
    raw_latency = percentiles(raw_steady.latencies()) if raw_steady.complete else {}
    for q in ("p50", "p99"):
        results.add(
            Row(
                f"live viewer latency {q}, publish → shown ({STEADY_RATE:,.0f} anomalies/s, "
                f"{STEADY_S:.0f} s)",
                steady_latency.get(q, float("nan")),
                "ms",
                "raw redis-py Pub/Sub subscriber, same stream",
                raw_latency.get(q, float("nan")),
                f"floor: pump every {interval_ms:.0f} ms (~{interval_ms / 2:.0f} ms mean wait)"
                if q == "p50"
                else "",
                higher_is_better=False,
            )
        )
    runs = (raw_burst, burst, raw_steady, steady)
    shown = sum(len(r.ids) - r.missing for r in (burst, steady))
    results.add(
        Row(
            "live viewer: anomalies shown (burst + steady), each once",
            shown,
            "anomalies",
            "anomalies published",
            len(burst.ids) + len(steady.ids),
            "all, once, none dropped (raw runs too)",
            all(r.complete for r in runs),
        )
    )
    for r in runs:
        if not r.complete:
            results.note(
                f"live viewer step: run {r.name} incomplete {DEADLINE_S:.0f} s after its last "
                f"publish: {r.check_text()}"
            )

    def ms(values: list[float]) -> str:
        return f"{min(values) * 1000:.1f} ms (median {statistics.median(values) * 1000:.1f})"

    details = results.details
    details["live viewer: burst"] = (
        f"publisher: {BURST:,} anomalies in {BURST // BURST_BATCH} publish calls in "
        f"{_published_s(burst):.2f} s ({BURST / _published_s(burst):,.0f}/s; in the raw run "
        f"{_published_s(raw_burst):.2f} s, {BURST / _published_s(raw_burst):,.0f}/s); first "
        f"publish → all shown {burst.span_s:.2f} s ({_after(burst)}), → all received by the "
        f"raw subscriber {raw_burst.span_s:.2f} s ({_after(raw_burst)}); this process's CPU "
        f"meanwhile: viewer {burst.cores:.2f} cores, raw subscriber {raw_burst.cores:.2f}; "
        f"viewer inbox {INBOX:,}; at most {MAX_BATCH:,} a pump, each {PUMP_INTERVAL_S} s after "
        f"the previous one returned: at most {MAX_BATCH:,} ÷ ({PUMP_INTERVAL_S} s + one pump) "
        f"by design; {_pumps_text(burst.pumps)}"
    )
    details["live viewer: pump"] = (
        f"{PUMP_REPEATS} pumps of {cost.batch:,} new anomalies into a state already holding "
        f"its keep (1,000): best {ms(cost.pump_s)}; LiveState.apply of the same batches "
        f"{ms(cost.apply_s)}; a pump with nothing new (counters + status lines) "
        f"{ms(cost.idle_s)}; no frontend attached (state serialised, messages dropped)"
    )
    if steady.complete and raw_steady.complete:
        lags = percentiles([s - d for s, d in zip(steady.sent, steady.due, strict=True)])
        details["live viewer: steady"] = (
            f"{len(steady.ids):,} anomalies, one per publish at {STEADY_RATE:,.0f}/s; publish → "
            f"shown {_latency_text(steady_latency)}; raw subscriber "
            f"{_latency_text(raw_latency)}; the pump interval ({interval_ms:.0f} ms) sets the "
            f"floor: ~{interval_ms / 2:.0f} ms on average, up to {interval_ms:.0f} ms plus a "
            f"pump; publisher send lag p99 {lags['p99']:.2f} ms; this process's CPU: viewer "
            f"{steady.cores:.2f} cores, raw subscriber {raw_steady.cores:.2f}; "
            f"{_pumps_text(steady.pumps)}"
        )
    details["live viewer: checks"] = "; ".join(f"{r.name}: {r.check_text()}" for r in runs)


def _published_s(r: Run) -> float:
    return r.published - r.sent[0]


def _after(r: Run) -> str:
    return f"{r.span_s - _published_s(r):.2f} s after the last publish returned"


def _latency_text(p: dict[str, float]) -> str:
    return f"p50 {p['p50']:.1f} ms, p90 {p['p90']:.1f}, p99 {p['p99']:.1f}, max {p['max']:.1f}"


def _pumps_text(pumps: list[tuple[int, float]]) -> str:
    if not pumps:
        return "no pump applied anomalies"
    sizes = [n for n, _ in pumps]
    seconds = [s for _, s in pumps]
    return (
        f"{len(pumps)} pumps applied anomalies ({min(sizes):,}-{max(sizes):,} each, median "
        f"{statistics.median(sizes):,.0f}), taking {statistics.median(seconds) * 1000:.1f} ms "
        f"median, {max(seconds) * 1000:.1f} ms max"
    )


# --- the publisher process: `python -m benchmarks.live_viewer publish ...` ---------------------


def publish_main(argv: list[str]) -> None:
    """Append COUNT anomalies with `RedisAnomalyFeed.publish`: RATE 0 = as fast as possible,
    BATCH per call; else one per call on a fixed schedule (anomaly i due at start + i / RATE).
    Writes the instant before each anomaly's call, due times and the end as JSON to OUT."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.live_viewer publish")
    for name in ("redis_url", "namespace", "prefix"):
        parser.add_argument(name)
    parser.add_argument("count", type=int)
    parser.add_argument("rate", type=float)
    parser.add_argument("batch", type=int)
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    documents = [document(args.prefix, n) for n in range(args.count)]
    client = redis.Redis.from_url(args.redis_url)
    feed = RedisAnomalyFeed(client, args.namespace)
    client.ping()
    sent = [0.0] * args.count
    due: list[float] = []
    if args.rate <= 0:
        for low in range(0, args.count, args.batch):
            high = min(args.count, low + args.batch)
            sent[low:high] = [now()] * (high - low)
            feed.publish(documents[low:high])
    else:
        start = now() + 0.01
        due = [start + i / args.rate for i in range(args.count)]
        for i in range(args.count):
            delay = due[i] - now()
            if delay > 0:
                time.sleep(delay)
            sent[i] = now()
            feed.publish([documents[i]])
    published = now()
    client.close()
    args.out.write_bytes(orjson.dumps({"sent": sent, "due": due, "published": published}))


HELPERS: Final[dict[str, Callable[[list[str]], None]]] = {"publish": publish_main}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in HELPERS:
        sys.exit("usage: python -m benchmarks.live_viewer publish ARGS")
    HELPERS[sys.argv[1]](sys.argv[2:])
