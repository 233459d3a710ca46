"""Live evaluation: every stored event, in arrival order, through the running rule set, once.

How the result stays a pure function of (rule version, stored events), whatever the number of
workers, the batch boundaries or a worker dying at any instant (DESIGN.md invariants 2, 5, 6):

- **One order.** Events are evaluated in arrival order (the ingest-stream position each was
  stored from, `(ms, seq, idx)`), the order a backtest replays. Several workers persist entries
  concurrently and out of that order, so the evaluator reads *PostgreSQL*, not the batches it
  persisted, and only up to the **persisted frontier**: the oldest stream entry the persisting
  group has not acknowledged (entries are acknowledged only after their insert committed, so
  every event before the frontier that will ever be stored is stored). Nothing past it is read.
- **One evaluator at a time.** Workers compete for a lease (a PostgreSQL advisory lock); the
  holder evaluates, the others persist and stand by. If the holder dies, its lock goes with its
  connection and another worker takes over.
- **State lives in PostgreSQL.** Each step stores, in one transaction, the anomalies it found,
  every running rule version's engine state (`Evaluator.state()`) and the new cursor, fenced by
  the previous cursor and step number: a step is stored whole or not at all, and a holder that
  lost its lease cannot commit. A new holder resumes from the last stored step, so a crash
  neither loses nor repeats an evaluation (and anomaly ids are deterministic besides).
- **Rule versions have a span.** A version starts with an empty state at the cursor of the
  first step that runs it and ends at the cursor where a change removed it; both positions are
  stored (`rule_evaluations`). A step runs under exactly one rule set.

A rule that raises is contained: its version is suspended (logged with rule id and event id,
counted), the other rules and persistence carry on; a new version runs again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias

from eventpulse.application.meters import NO_METER, EvaluationMeter
from eventpulse.application.rule_set import NOT_LOADED, ActiveRule, RuleSet
from eventpulse.domain.engine import Anomaly, Evaluator
from eventpulse.domain.errors import EventPulseError
from eventpulse.domain.events import Event

log = logging.getLogger("eventpulse.evaluation")

Position: TypeAlias = tuple[int, int, int]
"""An arrival position `(stream ms, stream seq, index in entry)`; the cursor is the last one
evaluated. `(ms, seq, -1)` means "everything before entry ms-seq"."""
Frontier: TypeAlias = tuple[int, int]
"""An exclusive bound on stream entry ids: every entry before it is persisted (or dead)."""
RuleKey: TypeAlias = tuple[str, int]
START: Position = (0, 0, 0)


class LeaseLost(EventPulseError):
    """Another worker advanced the evaluation: this one's step was not stored."""


@dataclass(frozen=True, slots=True)
class RuleProgress:
    """A running rule version as checkpointed: where it started and its engine state."""

    rule_id: str
    version: int
    started: Position
    state: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Checkpoint:
    cursor: Position
    steps: int
    running: dict[RuleKey, RuleProgress]
    finished: frozenset[RuleKey] = frozenset()
    """Versions whose evaluation ended (replaced, disabled, deleted or failed): every change of
    a rule stores a new version, so an ended version never runs again."""


@dataclass(frozen=True, slots=True)
class Step:
    """What one evaluation step stores, atomically."""

    previous: Checkpoint
    cursor: Position
    started: list[RuleProgress]
    ended: list[RuleKey]
    states: dict[RuleKey, dict[str, Any]]
    anomalies: list[Anomaly]


class EvaluationStore(Protocol):
    """The evaluation's durable side (PostgreSQL): lease, checkpoint, events, anomalies."""

    def acquire_lease(self) -> bool:
        """Hold the evaluation lease (True), or learn that another worker holds it."""
        ...

    def release_lease(self) -> None:
        """Give the lease up (idempotent); also drops a broken connection."""
        ...

    def load(self) -> Checkpoint: ...

    def events_after(
        self, cursor: Position, frontier: Frontier, limit: int
    ) -> list[tuple[Position, Event]]:
        """Stored events with cursor < position and (ms, seq) < frontier, in arrival order."""
        ...

    def commit(self, step: Step) -> list[Anomaly]:
        """Store the step if the checkpoint is still `step.previous` (else `LeaseLost`);
        the anomalies that were not stored before."""
        ...


class PersistedFrontier(Protocol):
    def frontier(self) -> Frontier | None:
        """Where persistence stands (None: no stream or group yet)."""
        ...


class CurrentRules(Protocol):
    def pinned(self) -> AbstractContextManager[RuleSet]:
        """The rule set to run, kept from being swapped until the step ends."""
        ...


Render = Callable[[Anomaly, ActiveRule], Anomaly]
OnAnomalies = Callable[[list[Anomaly]], None]


class Publisher(Protocol):
    def publish_pending(self) -> int:
        """Append every stored, unpublished anomaly to the anomaly feed (anomaly_feed.py)."""
        ...


@dataclass(slots=True)
class EvaluationStats:
    steps: int = 0
    events: int = 0
    anomalies: int = 0
    """Anomalies newly stored (replays of a stored step are not counted again)."""
    takeovers: int = 0
    rule_errors: Counter[str] = field(default_factory=Counter)
    seconds_by_rule: dict[str, float] = field(default_factory=dict)
    cursor: Position = START


@dataclass(slots=True)
class _Running:
    rule: ActiveRule
    evaluator: Evaluator
    started: Position
    state: dict[str, Any] | None
    """The state as last stored (or None before the first step): a failing rule replays from
    it, one event at a time, to find the event it fails on."""


class LiveEvaluation:
    """The evaluation loop of one worker (it evaluates only while it holds the lease)."""

    def __init__(
        self,
        store: EvaluationStore,
        frontier: PersistedFrontier,
        rules: CurrentRules,
        *,
        render: Render = lambda anomaly, _: anomaly,
        on_anomalies: OnAnomalies | None = None,
        publisher: Publisher | None = None,
        batch_size: int = 5_000,
        meter: EvaluationMeter = NO_METER,
    ) -> None:
        self._store = store
        self._frontier = frontier
        self._rules = rules
        self._render = render
        self._on_anomalies = on_anomalies
        self._publisher = publisher
        self._batch_size = batch_size
        self._checkpoint: Checkpoint | None = None  # set while this worker holds the lease
        self._running: dict[RuleKey, _Running] = {}
        self._exhausted: Frontier | None = None  # the frontier the last short read reached
        self._frontier_seen: Frontier | None = None  # the frontier the last step read
        self._meter = meter
        self.stats = EvaluationStats()

    @property
    def leading(self) -> bool:
        return self._checkpoint is not None

    def run(self, stop: threading.Event, wake: threading.Event, idle_s: float = 0.2) -> None:
        """Step until `stop`; `wake` (set after each persisted batch) ends an idle wait early."""
        failures = 0
        while not stop.is_set():
            try:
                busy = self.step()
                failures = 0
            except Exception as exc:  # any failure: resign, resume from the stored checkpoint
                failures += 1
                level = logging.WARNING if isinstance(exc, EventPulseError) else logging.ERROR
                log.log(level, "evaluation step failed, resuming from the checkpoint: %s", exc)
                self.resign()
                stop.wait(min(5.0, 0.2 * 2**failures))
                continue
            if not busy:
                wake.wait(idle_s)
                wake.clear()
        self.resign()

    def resign(self) -> None:
        """Forget the in-memory state and give the lease up."""
        self._checkpoint = None
        self._running.clear()
        self._exhausted = None
        self._meter.idle()
        self._store.release_lease()

    def step(self) -> bool:
        """One step: whether it did anything (a caller waits before the next when not)."""
        with self._rules.pinned() as rule_set:
            if rule_set.revision == NOT_LOADED:
                # Before the worker's first load, an empty set would end every running version.
                return False
            if self._checkpoint is None and not self._lead():
                return False
            return self._step(rule_set)

    def _step(self, rule_set: RuleSet) -> bool:
        checkpoint = self._checkpoint
        assert checkpoint is not None
        wanted = {
            (rule.rule_id, rule.version): rule
            for rule in rule_set.rules
            if (rule.rule_id, rule.version) not in checkpoint.finished
        }
        started = self._start(wanted, checkpoint)
        events, cursor = self._next_events(checkpoint.cursor)
        anomalies = self._feed(events)
        ended = [key for key in checkpoint.running if key not in self._running]
        if cursor == checkpoint.cursor and not started and not ended:
            return False
        step = Step(
            previous=checkpoint,
            cursor=cursor,
            started=started,
            ended=ended,
            states={key: run.evaluator.state() for key, run in self._running.items()},
            anomalies=anomalies,
        )
        stored = self._store.commit(step)
        self._committed(step)
        self.stats.steps += 1
        self.stats.events += len(events)
        self.stats.anomalies += len(stored)
        self._meter.step(events=len(events), anomalies=len(stored), lag_s=self._lag_s(cursor))
        if stored and self._on_anomalies is not None:
            self._on_anomalies(stored)
        if stored and self._publisher is not None:
            self._publisher.publish_pending()
        return True

    def _next_events(self, cursor: Position) -> tuple[list[tuple[Position, Event]], Position]:
        """The next events to evaluate and the cursor after them."""
        frontier = self._frontier_seen = self._frontier.frontier()
        if frontier is None or frontier <= cursor[:2] or frontier == self._exhausted:
            return [], cursor  # persistence has not moved since everything before it was read
        through_frontier = (frontier[0], frontier[1], -1)
        if not self._running:  # no rule runs: nothing to read, the cursor moves on
            self._exhausted = frontier
            return [], through_frontier
        events = self._store.events_after(cursor, frontier, self._batch_size)
        if len(events) == self._batch_size:
            return events, events[-1][0]
        self._exhausted = frontier
        return events, through_frontier

    def _lag_s(self, cursor: Position) -> float:
        """Stream time between the cursor and the persisted frontier (0 when caught up)."""
        frontier = self._frontier_seen
        if frontier is None or frontier <= cursor[:2]:
            return 0.0
        return max(0, frontier[0] - cursor[0]) / 1000

    def _lead(self) -> bool:
        if not self._store.acquire_lease():
            return False
        checkpoint = self._store.load()
        self._checkpoint = checkpoint
        self._running.clear()
        self._exhausted = None
        self.stats.takeovers += 1
        log.info("evaluating from arrival position %s", checkpoint.cursor)
        if self._publisher is not None:  # what a predecessor stored but did not publish
            self._publisher.publish_pending()
        return True

    def _start(
        self, wanted: dict[RuleKey, ActiveRule], checkpoint: Checkpoint
    ) -> list[RuleProgress]:
        """Align the evaluators with the rule set; the versions that start now."""
        for key in [key for key in self._running if key not in wanted]:
            del self._running[key]
        started: list[RuleProgress] = []
        for key, rule in wanted.items():
            if key in self._running:
                continue
            evaluator = Evaluator(rule.rule_id, rule.version, rule.spec)
            stored = checkpoint.running.get(key)
            if stored is None:
                progress = RuleProgress(rule.rule_id, rule.version, checkpoint.cursor, None)
                started.append(progress)
            else:
                progress = stored
                if stored.state is not None:
                    evaluator.restore(stored.state)
            self._running[key] = _Running(rule, evaluator, progress.started, progress.state)
        return started

    def _feed(self, events: Sequence[tuple[Position, Event]]) -> list[Anomaly]:
        found: list[Anomaly] = []
        if not events:
            return found
        for key, run in list(self._running.items()):
            began = time.perf_counter()
            try:
                produced = run.evaluator.feed(events)
            except Exception:
                produced = self._contain(key, run, events)
            spent = time.perf_counter() - began
            seconds = self.stats.seconds_by_rule
            seconds[run.rule.rule_id] = seconds.get(run.rule.rule_id, 0.0) + spent
            self._meter.rule_seconds(run.rule.rule_id, spent)
            found += (self._render(anomaly, run.rule) for anomaly in produced)
        return found

    def _contain(
        self, key: RuleKey, run: _Running, events: Sequence[tuple[Position, Event]]
    ) -> list[Anomaly]:
        """Replay the step one event at a time from the stored state: keep the anomalies found
        before the failing event, then suspend this rule version."""
        evaluator = Evaluator(run.rule.rule_id, run.rule.version, run.rule.spec)
        if run.state is not None:
            evaluator.restore(run.state)
        produced: list[Anomaly] = []
        for pair in events:
            try:
                produced += evaluator.feed([pair])
            except Exception:
                log.exception(
                    "rule %s v%d failed on event %s; suspended until its next version",
                    run.rule.rule_id,
                    run.rule.version,
                    pair[1].event_id,
                    extra={"rule_id": run.rule.rule_id, "event_id": str(pair[1].event_id)},
                )
                break
        self.stats.rule_errors[run.rule.rule_id] += 1
        self._meter.rule_error(run.rule.rule_id)
        del self._running[key]  # ended by this step, never restarted (finished)
        return produced

    def _committed(self, step: Step) -> None:
        for key, run in self._running.items():
            run.state = step.states[key]
        self._checkpoint = Checkpoint(
            step.cursor,
            step.previous.steps + 1,
            {
                key: RuleProgress(key[0], key[1], run.started, run.state)
                for key, run in self._running.items()
            },
            step.previous.finished | frozenset(step.ended),
        )
        self.stats.cursor = step.cursor
