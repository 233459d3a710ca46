"""Notify use case: the notifier's loop over the anomaly feed (group `notifiers`).

For each feed entry: decode the anomaly, find its (route, channel) targets from the rule's
severity, id and tags, skip the channels already done with it (a final record: sent, dead,
silenced, digested or duplicate — so a restart or a replica never resends what was recorded),
record `silenced` for the channels of a silenced anomaly, and deliver to the rest, each
channel on its own (see notify_delivery).

Acknowledgement: an entry is acknowledged only when every target of its anomaly reached a final
state. Until then it stays in this consumer's pending list and is touched periodically, so a
notifier killed at any instant loses nothing: its unfinished entries are read again at its
restart (own pending list first) or claimed by a replica once idle. What can repeat after a
crash is bounded by what was in flight: a send that reached the channel but whose record was
not written; its second success is then recorded as `duplicate`, and records of a re-delivered
entry carry `details.delivery` (how many times the feed delivered it).

The feed may hold the same anomaly twice (a worker died between appending and marking it):
entries for an anomaly already in hand here join it and are acknowledged with it; later ones
find the final records and are acknowledged at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eventpulse.application.meters import NO_METER, DeliveryMeter
from eventpulse.application.notify_delivery import Deliveries, Target, durably
from eventpulse.application.notify_digest import Digests
from eventpulse.application.notify_in_flight import InFlight, Job, decode_anomaly
from eventpulse.application.notify_ports import (
    Attempt,
    DeliveryLog,
    FeedConsumer,
    Prior,
    RuleTagSource,
    Sender,
    SilenceSource,
    first_silence,
)
from eventpulse.application.notify_stats import NotifierStats
from eventpulse.application.ports import StreamEntry
from eventpulse.domain.errors import StreamUnavailable
from eventpulse.domain.notifications import Notification, NotificationPlan, Route
from eventpulse.domain.silences import Silence

log = logging.getLogger("eventpulse.notify")


@dataclass(frozen=True, slots=True)
class NotifierOptions:
    read_count: int = 100
    block_ms: int = 500
    max_in_flight: int = 1000
    """Anomalies held unacknowledged at once; reading pauses at this many."""
    max_deliveries: int = 10
    """An entry delivered more often (it keeps killing notifiers) goes to the dead letters."""
    claim_every_s: float = 5.0
    touch_every_s: float = 10.0
    grace_s: float = 10.0
    """On stop, deliveries in progress get this long to finish; the rest stay pending."""
    report_every_s: float = 60.0
    digest_listed: int = 10
    digest_max_items: int = 500


class Notifier:
    def __init__(
        self,
        feed: FeedConsumer,
        records: DeliveryLog,
        silences: SilenceSource,
        tags: RuleTagSource,
        plan: NotificationPlan,
        senders: Mapping[str, Sender],
        options: NotifierOptions = NotifierOptions(),
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        *,
        meter: DeliveryMeter = NO_METER,
    ) -> None:
        self._feed = feed
        self._records = records
        self._silences = silences
        self._tags = tags
        self._plan = plan
        self._options = options
        self._now = now
        self.stats = NotifierStats(meter=meter)
        self._deliveries = Deliveries(plan.channels, senders, records, self.stats)
        self._digests = Digests(
            self._deliveries,
            listed=options.digest_listed,
            max_items=options.digest_max_items,
            now=now,
        )
        self._held = InFlight()

    @property
    def in_flight(self) -> int:
        return len(self._held)

    async def run(self, stop: asyncio.Event) -> NotifierStats:
        """Consume until `stop` is set, then give deliveries in progress a grace period."""
        try:
            await self._consume(stop)
        finally:
            await self._shutdown()
        log.info("notifier stopped: %s", self.stats.snapshot())
        return self.stats

    async def _consume(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        options = self._options
        drained = False
        next_claim = next_touch = next_report = loop.time()
        delay = 0.1
        while not stop.is_set():
            try:
                await self._flush_acks()
                if not drained:
                    await self._feed.ensure_group()
                    await self._drain_own_pending(stop)
                    drained = True
                now = loop.time()
                if now >= next_touch:
                    next_touch = now + options.touch_every_s
                    await self._touch()
                if now >= next_claim:
                    next_claim = now + options.claim_every_s
                    await self._intake(await self._feed.claim_abandoned(options.read_count), stop)
                if now >= next_report:
                    next_report = now + options.report_every_s
                    log.info("notifier: %d in flight; %s", self.in_flight, self.stats.snapshot())
                room = options.max_in_flight - self.in_flight
                if room <= 0:
                    self._held.room.clear()
                    await _wait_any(stop, self._held.room, options.block_ms / 1000)
                    continue
                count = min(room, options.read_count)
                await self._intake(await self._feed.read_new(count, options.block_ms), stop)
                delay = 0.1
            except StreamUnavailable as exc:
                log.warning("anomaly feed unavailable, retrying in %.1fs: %s", delay, exc)
                drained = False  # reconnected: re-read what this consumer holds
                await _wait_any(stop, None, delay)
                delay = min(delay * 2, 5.0)

    async def _drain_own_pending(self, stop: asyncio.Event) -> None:
        after = "0-0"
        while not stop.is_set():
            entries = await self._feed.read_own_pending(after, self._options.read_count)
            if not entries:
                return
            log.info("re-reading %d entries left pending by this consumer", len(entries))
            await self._intake(entries, stop)
            after = entries[-1].entry_id

    async def _intake(self, entries: Sequence[StreamEntry], stop: asyncio.Event) -> None:
        fresh: list[Job] = []
        for entry in entries:
            if self._held.holds(entry.entry_id):
                continue  # already in hand here (our own claim or pending list returned it)
            self.stats.entries_read += 1
            self.stats.redelivered += int(entry.deliveries > 1)
            anomaly, error = decode_anomaly(entry)
            if error is None and entry.deliveries > self._options.max_deliveries:
                error = f"delivered {entry.deliveries} times without being acknowledged"
            if anomaly is None or error is not None:
                await self._dead_letter(entry, error or "not an anomaly document")
                continue
            job = self._held.take(anomaly, entry)
            if job is None:
                self.stats.feed_duplicates += 1
            else:
                fresh.append(job)
        if fresh:
            await self._route(fresh, stop)

    async def _route(self, jobs: list[Job], stop: asyncio.Event) -> None:
        lookup = asyncio.ensure_future(self._lookups(jobs))
        if not await _finish_unless_stopped(lookup, stop):
            return  # stopping during a store outage: these entries stay pending
        tags, prior, silences = lookup.result()
        now = self._now()
        silenced: list[tuple[Job, Attempt]] = []
        for job in jobs:
            a = job.anomaly
            targets = self._plan.targets(a["rule_id"], a["severity"], tags.get(_version(a), ()))
            silence = first_silence(silences, a, now) if targets else None
            for route, channel in targets:
                before = prior.get((job.anomaly_id, channel))
                if before is not None and before.final is not None:
                    self.stats.count(channel, "skipped")
                    continue
                job.pending.add(channel)
                attempt = before.attempts + 1 if before else 1
                if silence is not None:
                    details = {"silence_id": silence.silence_id, **_delivery(job)}
                    row = Attempt(
                        job.anomaly_id, channel, route.name, attempt, "silenced", details=details
                    )
                    silenced.append((job, row))
                else:
                    self._dispatch(job, route, channel, attempt)
            job.routed = True
            if not job.pending:
                self._held.done(job)
        if silenced:
            rows = [row for _, row in silenced]
            write = asyncio.ensure_future(
                durably(lambda: self._records.record(rows), "recording silenced deliveries")
            )
            if not await _finish_unless_stopped(write, stop):
                return
            for job, row in silenced:
                self.stats.count(row.channel, "silenced")
                self._held.finish(job, row.channel)

    async def _lookups(
        self, jobs: list[Job]
    ) -> tuple[
        Mapping[tuple[str, int], tuple[str, ...]], dict[tuple[str, str], Prior], Sequence[Silence]
    ]:
        versions = {_version(job.anomaly) for job in jobs}
        ids = [job.anomaly_id for job in jobs]
        tags = await durably(lambda: self._tags.tags(versions), "reading rule tags")
        prior = await durably(lambda: self._records.prior(ids), "reading delivery records")
        silences = await durably(self._silences.active, "reading silences")
        return tags, prior, silences

    def _dispatch(self, job: Job, route: Route, channel: str, attempt: int) -> None:
        def finished(_: str) -> None:
            self._held.finish(job, channel)

        if route.digest_s > 0:
            self._digests.add(route, channel, job.anomaly, finished)
            return
        notification = Notification(route.name, (job.anomaly,))
        self._deliveries.start(
            Target(channel, route.name, notification, finished, attempt, _delivery(job))
        )

    async def _flush_acks(self) -> None:
        ids = self._held.take_acks()
        if not ids:
            return
        try:
            await self._feed.ack(ids)
        except StreamUnavailable:
            self._held.return_acks(ids)  # their work is recorded: acknowledged next time
            raise
        self.stats.acknowledged += len(ids)

    async def _touch(self) -> None:
        held = self._held.held_entries()
        for start in range(0, len(held), 1000):
            await self._feed.touch(held[start : start + 1000])

    async def _dead_letter(self, entry: StreamEntry, error: str) -> None:
        log.error("feed entry %s dead-lettered: %s", entry.entry_id, error)
        await self._feed.dead_letter(entry.entry_id, entry.data, error, entry.deliveries)
        self._held.discard_entry(entry.entry_id)
        self.stats.dead_lettered += 1

    async def _shutdown(self) -> None:
        self._digests.close_all()
        tasks = set(self._deliveries.tasks)
        if tasks:
            log.info(
                "stopping: waiting up to %.0fs for %d deliveries", self._options.grace_s, len(tasks)
            )
            _, left = await asyncio.wait(tasks, timeout=self._options.grace_s)
            for task in left:
                task.cancel()
            await asyncio.gather(*left, return_exceptions=True)
            if left:
                log.warning("%d deliveries left unfinished: delivered again later", len(left))
        try:
            await self._flush_acks()
        except StreamUnavailable as exc:
            log.warning("could not acknowledge finished entries (they will be skipped): %s", exc)


def _version(anomaly: Mapping[str, Any]) -> tuple[str, int]:
    return str(anomaly["rule_id"]), int(anomaly["rule_version"])


def _delivery(job: Job) -> dict[str, Any]:
    return {"delivery": job.deliveries} if job.deliveries > 1 else {}


async def _wait_any(stop: asyncio.Event, other: asyncio.Event | None, seconds: float) -> None:
    waits = [asyncio.ensure_future(stop.wait())]
    if other is not None:
        waits.append(asyncio.ensure_future(other.wait()))
    _, pending = await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


async def _finish_unless_stopped(work: asyncio.Future[Any], stop: asyncio.Event) -> bool:
    """Await `work`; if `stop` is set first, cancel it and return False."""
    stopping = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait({work, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    await asyncio.gather(stopping, return_exceptions=True)
    if work in done:
        return True
    work.cancel()
    await asyncio.gather(work, return_exceptions=True)
    return False
