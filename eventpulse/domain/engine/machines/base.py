"""What every rule type's state machine offers the evaluator.

A machine sees only FINAL events that passed the rule's filter, in (ts, event_id) order, as
`(ts_epoch, event_id_int, event)` triples. `process(final, until)` handles them, closing each
window `[s, e)` just before the first event with ts >= e, and finally closes every window with
`e <= until` (the watermark). Calls never overlap in time: every event of a later call has
`ts >= until` of the earlier one, so splitting a sequence across calls changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from eventpulse.domain.engine.emitter import Emitter
from eventpulse.domain.engine.keys import GroupKey
from eventpulse.domain.events import Event

FinalEvent = tuple[float, int, Event]


@dataclass(frozen=True, slots=True)
class MachineContext:
    group_key: Callable[[Event], GroupKey]
    emitter: Emitter


class Machine(Protocol):
    def process(self, final: Sequence[FinalEvent], until: float) -> None: ...

    def state(self) -> dict[str, Any]: ...

    def restore(self, state: dict[str, Any]) -> None: ...
