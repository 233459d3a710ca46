"""In-memory ports of live evaluation: the store (checkpoint, events, anomalies), the frontier
and a worker's current rule set."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from eventpulse.application.evaluation import (
    START,
    Checkpoint,
    Frontier,
    LeaseLost,
    Position,
    RuleKey,
    RuleProgress,
    Step,
)
from eventpulse.application.rule_set import ActiveRule, RuleSet
from eventpulse.domain.engine import Anomaly
from eventpulse.domain.events import Event
from eventpulse.domain.rules import parse_rule


@dataclass
class FakeEvaluationStore:
    """What PostgreSQL holds, with the adapter's fencing: a commit applies only on top of the
    checkpoint it started from."""

    events: list[tuple[Position, Event]] = field(default_factory=list)
    cursor: Position = START
    steps: int = 0
    running: dict[RuleKey, RuleProgress] = field(default_factory=dict)
    spans: dict[RuleKey, tuple[Position, Position | None]] = field(default_factory=dict)
    anomalies: dict[str, Anomaly] = field(default_factory=dict)
    held_elsewhere: bool = False
    reads: int = 0

    def acquire_lease(self) -> bool:
        return not self.held_elsewhere

    def release_lease(self) -> None:
        return None

    def load(self) -> Checkpoint:
        finished = frozenset(k for k, (_, end) in self.spans.items() if end is not None)
        return Checkpoint(self.cursor, self.steps, dict(self.running), finished)

    def events_after(
        self, cursor: Position, frontier: Frontier, limit: int
    ) -> list[tuple[Position, Event]]:
        self.reads += 1
        found = [pair for pair in self.events if pair[0] > cursor and pair[0][:2] < frontier]
        return sorted(found, key=lambda pair: pair[0])[:limit]

    def commit(self, step: Step) -> list[Anomaly]:
        if (step.previous.cursor, step.previous.steps) != (self.cursor, self.steps):
            raise LeaseLost("moved")
        self.cursor, self.steps = step.cursor, self.steps + 1
        for progress in step.started:
            self.spans[(progress.rule_id, progress.version)] = (progress.started, None)
        for key in step.ended:
            self.spans[key] = (self.spans[key][0], step.previous.cursor)
            self.running.pop(key, None)
        for key, state in step.states.items():
            started = self.spans[key][0]
            self.running[key] = RuleProgress(key[0], key[1], started, state)
        new = [a for a in step.anomalies if a.anomaly_id not in self.anomalies]
        self.anomalies.update((a.anomaly_id, a) for a in new)
        return new


@dataclass
class FakeFrontier:
    at: Frontier | None = None

    def frontier(self) -> Frontier | None:
        return self.at


class FakeRules:
    def __init__(self, *rules: ActiveRule) -> None:
        self.current = RuleSet(1, tuple(rules))

    def set(self, *rules: ActiveRule) -> None:
        self.current = RuleSet(self.current.revision + 1, tuple(rules))

    @contextmanager
    def pinned(self) -> Iterator[RuleSet]:
        yield self.current


def active(rule_id: str, version: int = 1, **document: object) -> ActiveRule:
    return ActiveRule(rule_id, version, parse_rule({"name": rule_id} | document))
