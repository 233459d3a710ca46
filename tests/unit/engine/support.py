"""Hand-made events and rules for the engine tests: times are seconds after BASE (UTC)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from eventpulse.domain.engine import Anomaly, Evaluator
from eventpulse.domain.events import Event
from eventpulse.domain.rules import parse_rule

BASE = datetime(2024, 1, 1, tzinfo=UTC)
"""Midnight, a multiple of every window the tests use."""
BASE_EPOCH = int(BASE.timestamp())

_serial = iter(range(1, 10**9))


def at(seconds: float) -> datetime:
    return BASE + timedelta(seconds=seconds)


def event(
    seconds: float,
    source: str = "a",
    *,
    event_type: str = "t",
    payload: dict[str, Any] | None = None,
    ahead_of_receipt: float = 0,
    number: int | None = None,
) -> Event:
    """An event at BASE + seconds; `ahead_of_receipt` puts its ts that far after received_at."""
    return Event(
        event_id=UUID(int=next(_serial) if number is None else number),
        event_type=event_type,
        source=source,
        ts=at(seconds),
        payload=payload or {},
        received_at=at(seconds - ahead_of_receipt),
    )


def rule(**fields: Any) -> Any:
    return parse_rule({"name": "test rule"} | fields)


def arrivals(events: Iterable[Event], start: int = 0) -> list[tuple[int, Event]]:
    return list(enumerate(events, start))


def run(spec: Any, events: Sequence[Event], *, version: int = 1) -> list[Anomaly]:
    evaluator = Evaluator("rule-1", version, spec)
    return evaluator.feed(arrivals(events))


def summary(anomalies: Iterable[Anomaly]) -> list[tuple[Any, ...]]:
    """(group, window start, window end, value) with times as seconds after BASE."""
    return [
        (
            anomaly.group,
            (anomaly.window_start - BASE).total_seconds(),
            (anomaly.window_end - BASE).total_seconds(),
            anomaly.value,
        )
        for anomaly in anomalies
    ]
