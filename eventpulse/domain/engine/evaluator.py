"""The evaluator: one rule version over a stream of events, in arrival order.

The worker, the backtester and the tests all drive this same class (see SEMANTICS.md). Feed it
`(arrival, event)` pairs in arrival order, in chunks of any size; it returns the anomalies that
became certain. `state()` is a JSON-ready checkpoint, `restore()` resumes from one. Nothing here
reads a clock: the engine moves only with the events it is fed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, TypeAlias, cast

from eventpulse.domain.engine.anomaly import Anomaly
from eventpulse.domain.engine.emitter import Emitter
from eventpulse.domain.engine.keys import group_key_function
from eventpulse.domain.engine.machines import MachineContext, build_machine
from eventpulse.domain.engine.pending import Pending
from eventpulse.domain.engine.watermark import FUTURE_SKEW_LIMIT, watermark
from eventpulse.domain.events import Event
from eventpulse.domain.rules import RuleSpec

Arrival: TypeAlias = int | tuple[int, ...]
"""A caller-given, strictly increasing position in the arrival order (e.g. `stream_arrival`)."""

STATE_FORMAT: Final = 1


def stream_arrival(entry_id: str, index: int) -> tuple[int, int, int]:
    """The arrival key of the `index`-th event in the stream entry `entry_id` (`"<ms>-<seq>"`)."""
    millis, _, sequence = entry_id.partition("-")
    return (int(millis), int(sequence or 0), index)


@dataclass(frozen=True, slots=True)
class Counters:
    late_dropped: int
    """Events passing the filter that were fed with ts < W: never evaluated."""
    duplicates: int
    """Events passing the filter whose event id was already pending."""
    replayed: int
    """Events fed with an arrival key not after the last one: already consumed, ignored."""
    suppressed: int
    """Anomalies suppressed by the cooldown."""


class Evaluator:
    def __init__(self, rule_id: str, version: int, spec: RuleSpec) -> None:
        self.rule_id = rule_id
        self.version = version
        self.spec = spec
        self._matches = spec.filter.matches
        self._emitter = Emitter(
            rule_id,
            version,
            spec.severity.value,
            spec.message,
            tuple(ref.text for ref in spec.group_by),
            spec.cooldown,
        )
        context = MachineContext(group_key_function(spec.group_by), self._emitter)
        self._machine = build_machine(spec.params, context)
        self._pending = Pending()
        self._max_ts: float | None = None
        self._last_arrival: Arrival | None = None
        self._late = self._duplicates = self._replayed = 0

    @property
    def watermark(self) -> float:
        """W in epoch seconds (-inf before the first event that may move it)."""
        return watermark(self._max_ts, self.spec.lateness)

    @property
    def counters(self) -> Counters:
        return Counters(self._late, self._duplicates, self._replayed, self._emitter.suppressed)

    def feed(self, events: Iterable[tuple[Arrival, Event]]) -> list[Anomaly]:
        """Take the next events in arrival order; return the anomalies they made certain."""
        before = self.watermark
        self._admit(events)
        after = self.watermark
        if after > before:
            self._machine.process(self._pending.release(after), after)
            self._emitter.prune(after)
        return self._emitter.take()

    def _admit(self, events: Iterable[tuple[Arrival, Event]]) -> None:
        # The hot path: everything an event needs before it is final, with state in locals.
        lateness, matches = self.spec.lateness, self._matches
        top = float("-inf") if self._max_ts is None else self._max_ts
        water, last = top - lateness, cast(Any, self._last_arrival)
        items, ids = self._pending.items, self._pending.ids
        late = duplicates = replayed = 0
        for arrival, event in events:
            if last is not None and arrival <= last:
                replayed += 1
                continue
            last = arrival
            ts = event.ts_epoch
            if ts is None:
                ts = event.ts.timestamp()
            if ts > top and ts - (event.received_epoch or event.received_at.timestamp()) <= (
                FUTURE_SKEW_LIMIT
            ):
                top, water = ts, ts - lateness
            if not matches(event):
                continue
            if ts < water:
                late += 1
                continue
            ident = event.event_id.int
            if ident in ids:
                duplicates += 1
                continue
            ids.add(ident)
            items.append((ts, ident, event))
        self._max_ts = None if top == float("-inf") else top
        self._last_arrival = last
        self._late += late
        self._duplicates += duplicates
        self._replayed += replayed

    def state(self) -> dict[str, Any]:
        """A JSON-ready checkpoint (lists, dicts, strings, numbers, booleans and nulls only)."""
        last = self._last_arrival
        return {
            "format": STATE_FORMAT,
            "rule": [self.rule_id, self.version, self.spec.type.value],
            "max_ts": self._max_ts,
            "last_arrival": list(last) if isinstance(last, tuple) else last,
            "counters": {
                "late_dropped": self._late,
                "duplicates": self._duplicates,
                "replayed": self._replayed,
            },
            "pending": self._pending.state(),
            "machine": self._machine.state(),
            "cooldown": self._emitter.state(),
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Resume from `state()` of an evaluator of the same rule version."""
        expected = [self.rule_id, self.version, self.spec.type.value]
        if state.get("format") != STATE_FORMAT or state.get("rule") != expected:
            raise ValueError(f"state is not a format-{STATE_FORMAT} state of rule {expected}")
        last = state["last_arrival"]
        self._last_arrival = tuple(last) if isinstance(last, list) else last
        self._max_ts = state["max_ts"]
        counters = state["counters"]
        self._late = counters["late_dropped"]
        self._duplicates = counters["duplicates"]
        self._replayed = counters["replayed"]
        self._pending.restore(state["pending"])
        self._machine.restore(state["machine"])
        self._emitter.restore(state["cooldown"])
