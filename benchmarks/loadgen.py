"""Open-loop, fixed-rate HTTP/1.1 load (wrk2-style), for latency at a given request rate.

Request i is due at `start + i / rate`, whatever happened to earlier requests. It is sent on
an idle keep-alive connection as soon as it is due; when every connection is busy it waits in
a queue. Latency is measured from the *due* time, not from the actual send, so a stalled
server is charged for the requests it delayed (no coordinated omission). The generator also
reports its own send lag (actual send - due time) and the rate it achieved, which says whether
it kept up: if it cannot, its numbers are not the server's.

Runs on asyncio (uvloop when installed) with raw sockets and pre-built requests; timestamps
come from `time.perf_counter` (uvloop's `loop.time()` has millisecond resolution).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

_HEADER_END = b"\r\n\r\n"
_CONTENT_LENGTH = b"\r\ncontent-length:"


@dataclass(frozen=True)
class LoadResult:
    rate: float
    duration_s: float
    sent: int
    completed: int
    non_2xx: int
    errors: int
    queued: int  # requests that found no idle connection when due
    achieved_per_s: float
    latency_ms: dict[str, float]  # from the due time
    service_ms: dict[str, float]  # from the actual send
    send_lag_ms: dict[str, float]

    @property
    def kept_up(self) -> bool:
        """The generator sent on schedule: p99 send lag < 2 ms, >= 99% of the target rate.

        Event-loop timers have 1 ms resolution, so up to ~1 ms of lag is the generator's own
        floor; it is included in every latency it reports (the bare-app baseline shows it).
        """
        return self.send_lag_ms["p99"] < 2.0 and self.achieved_per_s >= 0.99 * self.rate


def percentiles(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return dict.fromkeys(("p50", "p90", "p99", "p999", "max"), float("nan"))
    ordered = sorted(values)
    last = len(ordered) - 1

    def at(q: float) -> float:
        return ordered[min(last, round(q * last))] * 1000

    return {"p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "p999": at(0.999), "max": at(1.0)}


@dataclass
class _Run:
    requests: Sequence[bytes]
    idle: deque[_Connection] = field(default_factory=deque)
    backlog: deque[float] = field(default_factory=deque)
    latencies: list[float] = field(default_factory=list)
    service: list[float] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)
    sent: int = 0
    non_2xx: int = 0
    errors: int = 0
    queued: int = 0
    last_done: float = 0.0
    outstanding: int = 0
    all_done: asyncio.Event = field(default_factory=asyncio.Event)
    finished_sending: bool = False

    def dispatch(self, due: float) -> None:
        if self.idle:
            self.idle.popleft().send(due)
        else:
            self.queued += 1
            self.backlog.append(due)

    def completed(self, conn: _Connection, due: float, sent: float, status: int) -> None:
        now = time.perf_counter()
        self.latencies.append(now - due)
        self.service.append(now - sent)
        self.last_done = now
        if not 200 <= status < 300:
            self.non_2xx += 1
        self.outstanding -= 1
        self._reuse(conn)

    def failed(self, conn: _Connection | None) -> None:
        self.errors += 1
        self.outstanding -= 1
        self._check_done()

    def _reuse(self, conn: _Connection) -> None:
        if self.backlog:
            conn.send(self.backlog.popleft())
        else:
            self.idle.append(conn)  # FIFO: every connection stays warm (keep-alive timeouts)
        self._check_done()

    def _check_done(self) -> None:
        if self.finished_sending and self.outstanding == 0 and not self.backlog:
            self.all_done.set()


def _parse_head(head: bytes) -> tuple[int, int]:
    """Status code and Content-Length of a response head (which ends with one CRLF)."""
    lowered = head.lower()
    at = lowered.find(_CONTENT_LENGTH)
    if at < 0:
        return int(head[9:12]), 0
    start = at + len(_CONTENT_LENGTH)
    return int(head[9:12]), int(lowered[start : lowered.index(b"\r\n", start)])


class _Connection(asyncio.Protocol):
    def __init__(self, run: _Run) -> None:
        self._run = run
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._need = -1
        self._status = 0
        self._due = 0.0
        self._sent = 0.0
        self._busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def send(self, due: float) -> None:
        assert self._transport is not None
        run = self._run
        self._due = due
        self._busy = True
        self._sent = time.perf_counter()
        run.lags.append(self._sent - due)
        run.outstanding += 1
        self._transport.write(run.requests[run.sent % len(run.requests)])
        run.sent += 1

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while True:
            if self._need < 0:
                end = self._buffer.find(_HEADER_END)
                if end < 0:
                    return
                self._status, length = _parse_head(bytes(self._buffer[: end + 2]))
                self._need = end + len(_HEADER_END) + length
            if len(self._buffer) < self._need:
                return
            del self._buffer[: self._need]
            self._need = -1
            self._busy = False
            self._run.completed(self, self._due, self._sent, self._status)

    def connection_lost(self, exc: Exception | None) -> None:
        if self in self._run.idle:
            self._run.idle.remove(self)
        if self._busy:
            self._busy = False
            self._run.failed(self)


def http_post(host: str, port: int, path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _open_loop(
    host: str, port: int, requests: Sequence[bytes], rate: float, duration_s: float, conns: int
) -> LoadResult:
    loop = asyncio.get_running_loop()
    run = _Run(requests)
    for _ in range(conns):
        _, protocol = await loop.create_connection(lambda: _Connection(run), host, port)
        run.idle.append(protocol)
    total = int(rate * duration_s)
    interval = 1.0 / rate
    start = time.perf_counter() + 0.01
    for i in range(total):
        due = start + i * interval
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        run.dispatch(due)
    run.finished_sending = True
    run._check_done()
    try:
        await asyncio.wait_for(run.all_done.wait(), timeout=10.0)
    except TimeoutError:
        run.errors += run.outstanding + len(run.backlog)
    for conn in list(run.idle):
        if conn._transport is not None:
            conn._transport.close()
    elapsed = (run.last_done or time.perf_counter()) - start
    completed = len(run.latencies)
    return LoadResult(
        rate=rate,
        duration_s=duration_s,
        sent=run.sent,
        completed=completed,
        non_2xx=run.non_2xx,
        errors=run.errors,
        queued=run.queued,
        achieved_per_s=completed / elapsed if elapsed > 0 else 0.0,
        latency_ms=percentiles(run.latencies),
        service_ms=percentiles(run.service),
        send_lag_ms=percentiles(run.lags),
    )


def fixed_rate(
    host: str,
    port: int,
    requests: Sequence[bytes],
    *,
    rate: float,
    duration_s: float,
    connections: int = 32,
) -> LoadResult:
    """Send `rate` requests/s for `duration_s` seconds (bounded: rate * duration requests)."""
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        runner = asyncio.run
    return runner(_open_loop(host, port, requests, rate, duration_s, connections))
