"""Delivering one notification to one channel: attempts with a timeout, exponential backoff
with jitter, a dead delivery after the last attempt, and a record of every attempt.

Each delivery is its own asyncio task, and a channel's attempts run under the channel's own
semaphore (its `concurrency`): a channel that hangs or fails holds only its own slots, and
its tasks wait out their backoff without holding any, so other channels never wait for it
(invariant 8). A digest is delivered the same way; its attempts are recorded once per anomaly
it holds, and its success records each of them as `digested`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from eventpulse.application.notify_ports import Attempt, DeliveryFailed, DeliveryLog, Sender
from eventpulse.application.notify_stats import NotifierStats
from eventpulse.domain.errors import StoreUnavailable
from eventpulse.domain.notifications import ChannelSpec, Notification

log = logging.getLogger("eventpulse.notify")
_T = TypeVar("_T")

OnFinal = Callable[[str], None]
"""Told the final outcome (sent, duplicate, digested, dead) once every record is written."""


@dataclass(frozen=True, slots=True)
class Target:
    channel: str
    route: str
    notification: Notification
    on_final: OnFinal
    first_attempt: int = 1
    details: Mapping[str, Any] = field(default_factory=dict)


async def durably(call: Callable[[], Awaitable[_T]], what: str) -> _T:
    """`call()` until the store answers: records must not be lost to a short outage. A stop
    cancels the caller; its entries stay unacknowledged and are delivered again."""
    delay = 0.1
    while True:
        try:
            return await call()
        except StoreUnavailable as exc:
            log.warning("%s: store unavailable, retrying in %.1fs: %s", what, delay, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


class Deliveries:
    def __init__(
        self,
        channels: Mapping[str, ChannelSpec],
        senders: Mapping[str, Sender],
        records: DeliveryLog,
        stats: NotifierStats,
        jitter: Callable[[], float] = lambda: random.uniform(0.5, 1.0),
    ) -> None:
        self._channels = channels
        self._senders = senders
        self._records = records
        self._stats = stats
        self._jitter = jitter
        self._slots = {name: asyncio.Semaphore(spec.concurrency) for name, spec in channels.items()}
        self.tasks: set[asyncio.Task[None]] = set()

    def start(self, target: Target) -> None:
        task = asyncio.create_task(self._run(target), name=f"deliver-{target.channel}")
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # The delivery's entry stays unacknowledged: delivered again after a restart.
            log.error("delivery task failed", exc_info=task.exception())

    async def _run(self, target: Target) -> None:
        retry = self._channels[target.channel].retry
        attempt = target.first_attempt
        while True:
            async with self._slots[target.channel]:
                error, permanent, latency_ms = await self._attempt(target, retry.timeout_s)
                # A success is recorded before the slot is freed: what a crash can leave sent
                # but unrecorded (sent again after a restart) is at most `concurrency` sends.
                outcome = None if error else await self._succeeded(target, attempt, latency_ms)
            if outcome is not None:
                target.on_final(outcome)
                return
            assert error is not None
            dead = permanent or attempt >= retry.max_attempts
            status = "dead" if dead else "failed"
            await self._record(_rows(target, attempt, status, error, latency_ms))
            self._stats.count(target.channel, status)
            _log_failure(target, attempt, status, error)
            if dead:
                target.on_final("dead")
                return
            await asyncio.sleep(retry.delay(attempt - target.first_attempt + 1, self._jitter()))
            attempt += 1

    async def _record(self, rows: list[Attempt]) -> None:
        await durably(lambda: self._records.record(rows), "recording an attempt")

    async def _attempt(self, target: Target, timeout_s: float) -> tuple[str | None, bool, float]:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout_s):
                await self._senders[target.channel].send(target.notification)
            error, permanent = None, False
        except DeliveryFailed as exc:
            error, permanent = str(exc) or "failed", exc.permanent
        except TimeoutError:
            error, permanent = f"timed out after {timeout_s:g}s", False
        except Exception as exc:  # a sender's bug is one channel's failure, not the notifier's
            error, permanent = f"{type(exc).__name__}: {exc}", False
        return error, permanent, (time.perf_counter() - started) * 1000

    async def _succeeded(self, target: Target, attempt: int, latency_ms: float) -> str:
        if target.notification.digest is not None:
            rows = _rows(target, attempt, "digested", None, latency_ms)
            await durably(lambda: self._records.record(rows), "recording a digest")
            outcome = "digested"
            self._stats.count(target.channel, outcome, len(rows))
        else:
            (row,) = _rows(target, attempt, "sent", None, latency_ms)
            first = await durably(lambda: self._records.record_sent(row), "recording a success")
            outcome = "sent" if first else "duplicate"
            self._stats.count(target.channel, outcome)
        for anomaly in target.notification.anomalies:
            log.info(
                "anomaly %s → %s: %s (attempt %d, %.0f ms)",
                anomaly["anomaly_id"],
                target.channel,
                outcome,
                attempt,
                latency_ms,
                extra=_extra(anomaly["anomaly_id"], target, outcome),
            )
        return outcome


def _rows(
    target: Target, attempt: int, status: str, error: str | None, latency_ms: float
) -> list[Attempt]:
    return [
        Attempt(
            anomaly["anomaly_id"],
            target.channel,
            target.route,
            attempt,
            status,
            error,
            round(latency_ms, 3),
            target.details,
        )
        for anomaly in target.notification.anomalies
    ]


def _log_failure(target: Target, attempt: int, status: str, error: str) -> None:
    ids = [a["anomaly_id"] for a in target.notification.anomalies]
    shown = ids[0] if len(ids) == 1 else f"digest of {len(ids)}"
    level = logging.ERROR if status == "dead" else logging.WARNING
    log.log(
        level,
        "anomaly %s → %s: attempt %d %s: %s",
        shown,
        target.channel,
        attempt,
        status,
        error,
        extra=_extra(ids[0] if len(ids) == 1 else None, target, status),
    )


def _extra(anomaly_id: str | None, target: Target, outcome: str) -> dict[str, Any]:
    return {
        "anomaly_id": anomaly_id,
        "channel": target.channel,
        "route": target.route,
        "outcome": outcome,
    }
