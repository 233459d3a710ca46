"""One state machine per rule type; `build_machine` picks the one a rule needs."""

from __future__ import annotations

from eventpulse.domain.engine.machines.absence import AbsenceMachine
from eventpulse.domain.engine.machines.base import FinalEvent, Machine, MachineContext
from eventpulse.domain.engine.machines.match import MatchMachine
from eventpulse.domain.engine.machines.new_value import NewValueMachine
from eventpulse.domain.engine.machines.spike import SpikeMachine
from eventpulse.domain.engine.machines.threshold import ThresholdMachine
from eventpulse.domain.rules import (
    AbsenceParams,
    MatchParams,
    NewValueParams,
    Params,
    SpikeParams,
    ThresholdParams,
)


def build_machine(params: Params, context: MachineContext) -> Machine:
    if isinstance(params, MatchParams):
        return MatchMachine(context)
    if isinstance(params, ThresholdParams):
        return ThresholdMachine(params, context)
    if isinstance(params, SpikeParams):
        return SpikeMachine(params, context)
    if isinstance(params, AbsenceParams):
        return AbsenceMachine(params, context)
    if isinstance(params, NewValueParams):
        return NewValueMachine(params, context)
    raise TypeError(f"no machine for {params!r}")  # pragma: no cover - Params is closed


__all__ = ["FinalEvent", "Machine", "MachineContext", "build_machine"]
