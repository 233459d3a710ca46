"""Persist use case: the worker's loop from the ingest stream into the event store.

Order per batch (invariant 2): decode → one idempotent insert → XACK → evaluation hook.
Nothing is acknowledged before its insert committed, so a worker killed at any instant loses
nothing: its pending entries are re-read at start-up or claimed by another worker. Items that
can never be stored go to the dead-letter stream with the reason, and the rest of their batch
proceeds; entries delivered more than `max_deliveries` times (they keep killing workers) too.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

from eventpulse.application.event_codec import decode_entry, encode_event, event_record
from eventpulse.application.meters import NO_METER, PersistMeter
from eventpulse.application.ports import EventStore, IngestStream, RejectedEvents, StreamEntry
from eventpulse.domain.errors import StoreUnavailable, StreamUnavailable
from eventpulse.domain.events import Event

log = logging.getLogger("eventpulse.worker")
_T = TypeVar("_T")

OnPersisted = Callable[[Sequence[Event]], None]
"""The evaluation hook: receives, after XACK, only the events this batch newly inserted.

At most once per event: if a worker dies (or its XACK is lost) between commit and hook, the
re-delivered events are duplicates for the store and are not handed over again. Whatever
must see every stored event exactly once (the rule engine) reads the store, not only this."""


@dataclass(frozen=True, slots=True)
class PersistPolicy:
    read_count: int = 100
    block_ms: int = 500
    max_deliveries: int = 5
    claim_every_s: float = 5.0
    trim_every_s: float = 5.0
    retry_initial_s: float = 0.1
    retry_max_s: float = 5.0
    read_ahead: bool = True


@dataclass(slots=True)
class PersistStats:
    batches: int = 0
    inserted: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    redelivered: int = 0
    hook_errors: int = 0


@dataclass(slots=True)
class _Batch:
    entries: Sequence[StreamEntry]
    events: list[Event] = field(default_factory=list)
    dead: list[_DeadLetter] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _DeadLetter:
    entry_id: str
    data: bytes | None
    error: str
    deliveries: int
    refused_by_store: bool = False


class Persister:
    def __init__(
        self,
        stream: IngestStream,
        store: EventStore,
        policy: PersistPolicy,
        on_persisted: OnPersisted | None = None,
        *,
        meter: PersistMeter = NO_METER,
    ) -> None:
        self._stream = stream
        self._store = store
        self._policy = policy
        self._on_persisted = on_persisted
        self._meter = meter
        self.stats = PersistStats()

    def run(self, stop: threading.Event) -> PersistStats:
        """Consume until `stop` is set; batches already read are stored and acked first."""
        reader: Executor = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead")
            if self._policy.read_ahead
            else _Inline()
        )
        with reader:
            self._run(stop, reader)
        log.info("worker stopped: %s", self.stats)
        return self.stats

    def _run(self, stop: threading.Event, reader: Executor) -> None:
        # While batch N is inserted, batch N+1 is read and decoded on the read-ahead thread:
        # PostgreSQL works on one core while Python decodes on the other. At most two batches
        # are pending for this consumer; both are finished before a stop returns.
        drain_pending = True
        next_claim = next_trim = time.monotonic()
        backoff = _Backoff(self._policy)
        ahead: Future[_Batch] | None = None
        while not stop.is_set():
            try:
                if drain_pending:
                    drain_pending = False
                    self._drain_own_pending(stop)
                now = time.monotonic()
                if now >= next_claim and not stop.is_set():
                    next_claim = now + self._policy.claim_every_s
                    self._handle_claimed(stop)
                if stop.is_set():  # a stop during the steps above ends reading at once
                    break
                if now >= next_trim:
                    next_trim = now + self._policy.trim_every_s
                    self._stream.trim_acknowledged()
                batch = (ahead or reader.submit(self._read_and_decode)).result()
                ahead = None if stop.is_set() else reader.submit(self._read_and_decode)
                if batch.entries:
                    self._commit(batch, stop)
                backoff.reset()
            except StreamUnavailable as exc:
                log.warning("ingest stream unavailable, retrying: %s", exc)
                self._finish_read_ahead(ahead, stop)  # the read in flight may have taken entries
                ahead = None
                drain_pending = True
                backoff.wait(stop)
        self._finish_read_ahead(ahead, stop)

    def _finish_read_ahead(self, ahead: Future[_Batch] | None, stop: threading.Event) -> None:
        if ahead is None or ahead.cancel():  # not started: nothing was read
            return
        try:
            batch = ahead.result()
            if batch.entries:
                # When stopping, a healthy store commits at once and an unavailable one is not
                # waited for: the batch stays pending for this consumer and is re-read later.
                self._commit(batch, stop)
        except StreamUnavailable as exc:
            log.warning("read-ahead batch left pending: %s", exc)

    def handle(self, entries: Sequence[StreamEntry], stop: threading.Event) -> bool:
        """Store one batch and acknowledge it; False if shutdown interrupted it (nothing acked)."""
        return self._commit(self._decode(entries), stop)

    def _decode(self, entries: Sequence[StreamEntry]) -> _Batch:
        batch = _Batch(entries)
        for entry in entries:
            if entry.deliveries > self._policy.max_deliveries:
                reason = f"delivered {entry.deliveries} times without being acknowledged"
                batch.dead.append(_DeadLetter(entry.entry_id, entry.data, reason, entry.deliveries))
                continue
            good, bad = decode_entry(entry.data, entry.entry_id)
            batch.events.extend(good)
            batch.dead.extend(
                _DeadLetter(entry.entry_id, b.raw, b.error, entry.deliveries) for b in bad
            )
        return batch

    def _commit(self, batch: _Batch, stop: threading.Event) -> bool:
        inserted = self._insert(batch.events, batch.dead, batch.entries, stop)
        if inserted is None:
            return False
        for letter in batch.dead:
            self._stream.dead_letter(letter.entry_id, letter.data, letter.error, letter.deliveries)
        self._stream.ack([entry.entry_id for entry in batch.entries])
        fresh = _newly_inserted(batch.events, inserted)
        self._count(batch.entries, batch.events, fresh, batch.dead)
        self._evaluate(fresh)
        return True

    def _read_and_decode(self) -> _Batch:
        return self._decode(self._stream.read_new(self._policy.read_count, self._policy.block_ms))

    def _drain_own_pending(self, stop: threading.Event) -> None:
        while not stop.is_set():
            entries = self._stream.read_own_pending(self._policy.read_count)
            if not entries:
                return
            log.info("re-reading %d entries left pending by this consumer", len(entries))
            if not self.handle(entries, stop):
                return

    def _handle_claimed(self, stop: threading.Event) -> None:
        entries = self._stream.claim_abandoned(self._policy.read_count)
        if entries:
            log.info("claimed %d entries idle on other consumers", len(entries))
            self.handle(entries, stop)

    def _insert(
        self,
        events: list[Event],
        dead: list[_DeadLetter],
        entries: Sequence[StreamEntry],
        stop: threading.Event,
    ) -> set[UUID] | None:
        if not events:
            return set()
        try:
            return self._insert_retrying(events, entries, stop)
        except RejectedEvents as exc:
            log.warning("batch refused by the store (%s); isolating the refused events", exc)
        owner = {
            event.event_id: entry
            for entry in entries
            for event in decode_entry(entry.data, entry.entry_id)[0]
        }
        inserted: set[UUID] = set()
        # Bisect: halves that insert cleanly are done in one statement each, so isolating k
        # refused events among n costs O(k log n) statements rather than n.
        pending = [events[: len(events) // 2], events[len(events) // 2 :]]
        while pending:
            part = pending.pop()
            if not part:
                continue
            try:
                done = self._insert_retrying(part, entries, stop)
            except RejectedEvents as exc:
                if len(part) > 1:
                    pending += [part[: len(part) // 2], part[len(part) // 2 :]]
                    continue
                dead.append(_refused(owner[part[0].event_id], part[0], str(exc)))
                continue
            if done is None:
                return None
            inserted |= done
        return inserted

    def _insert_retrying(
        self, events: list[Event], entries: Sequence[StreamEntry], stop: threading.Event
    ) -> set[UUID] | None:
        backoff = _Backoff(self._policy)
        while True:
            try:
                return self._timed_insert(events)
            except StoreUnavailable as exc:
                log.warning("event store unavailable, retrying (nothing acknowledged): %s", exc)
                self._keep(entries)
                if not backoff.wait(stop):
                    return None

    def _timed_insert(self, events: list[Event]) -> set[UUID]:
        began = time.perf_counter()
        try:
            return self._store.insert_new(events)
        finally:
            self._meter.insert_seconds(time.perf_counter() - began)

    def _keep(self, entries: Sequence[StreamEntry]) -> None:
        # Entries held through a long outage must not look abandoned: another worker would
        # claim them (raising their delivery count towards the dead-letter limit) only to
        # wait on the same outage.
        try:
            self._stream.touch([entry.entry_id for entry in entries])
        except StreamUnavailable as exc:
            log.warning("could not refresh held entries: %s", exc)

    def _evaluate(self, fresh: list[Event]) -> None:
        if not fresh or self._on_persisted is None:
            return
        try:
            self._on_persisted(fresh)
        except Exception:
            # Persistence is done and acknowledged; evaluation trouble never undoes it.
            self.stats.hook_errors += 1
            log.exception("evaluation hook failed for %d events", len(fresh))

    def _count(
        self,
        entries: Sequence[StreamEntry],
        events: list[Event],
        fresh: list[Event],
        dead: list[_DeadLetter],
    ) -> None:
        refused = sum(1 for letter in dead if letter.refused_by_store)
        duplicates = len(events) - len(fresh) - refused
        redelivered = sum(1 for entry in entries if entry.deliveries > 1)
        self.stats.batches += 1
        self.stats.inserted += len(fresh)
        self.stats.duplicates += duplicates
        self.stats.dead_lettered += len(dead)
        self.stats.redelivered += redelivered
        self._meter.batch(
            inserted=len(fresh),
            duplicates=duplicates,
            dead_lettered=len(dead),
            redelivered=redelivered,
        )


def _refused(entry: StreamEntry, event: Event, error: str) -> _DeadLetter:
    return _DeadLetter(
        entry.entry_id,
        encode_event(event_record(event)),
        f"refused by the store: {error}",
        entry.deliveries,
        refused_by_store=True,
    )


def _newly_inserted(events: list[Event], inserted: set[UUID]) -> list[Event]:
    fresh: list[Event] = []
    for event in events:
        if event.event_id in inserted:
            inserted.discard(event.event_id)  # an id repeated within the batch counts once
            fresh.append(event)
    return fresh


class _Inline(Executor):
    """`read_ahead=False`: each read runs when its result is asked for, on the calling thread,
    so the calls happen in one fixed order (read, commit, read, commit…)."""

    def submit(self, fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> Future[_T]:
        return _Deferred(lambda: fn(*args, **kwargs))


class _Deferred(Future[_T]):
    def __init__(self, call: Callable[[], _T]) -> None:
        super().__init__()
        self._call = call

    def result(self, timeout: float | None = None) -> _T:
        if not self.done():
            try:
                self.set_result(self._call())
            except Exception as exc:
                self.set_exception(exc)
        return super().result(timeout)


class _Backoff:
    """Exponential backoff with jitter that a stop request interrupts."""

    def __init__(self, policy: PersistPolicy) -> None:
        self._policy = policy
        self._delay = policy.retry_initial_s

    def reset(self) -> None:
        self._delay = self._policy.retry_initial_s

    def wait(self, stop: threading.Event) -> bool:
        """Sleep the next delay; False when stop was requested meanwhile."""
        delay = self._delay * random.uniform(0.5, 1.0)
        self._delay = min(self._delay * 2, self._policy.retry_max_s)
        return not stop.wait(delay)
