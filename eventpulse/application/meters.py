"""Metering ports: what the worker and notifier loops count, told as it happens.

The use cases call these at the very places they update their stats objects, so a metric is
counted in the process where the thing happened (several workers each count their own; the
metrics endpoint sums them). `NO_METER` counts nothing: the default, and what unit tests use.
The Prometheus adapter is `infrastructure/prometheus_metrics.py`.
"""

from __future__ import annotations

from typing import Final, Protocol


class PersistMeter(Protocol):
    def batch(
        self, *, inserted: int, duplicates: int, dead_lettered: int, redelivered: int
    ) -> None:
        """One batch stored and acknowledged: events newly inserted, duplicates of stored
        events, entries or events dead-lettered, entries delivered more than once."""
        ...

    def insert_seconds(self, seconds: float) -> None:
        """The duration of one insert statement (failed attempts included)."""
        ...


class EvaluationMeter(Protocol):
    def rule_seconds(self, rule_id: str, seconds: float) -> None:
        """Time one rule spent on one step's events."""
        ...

    def rule_error(self, rule_id: str) -> None:
        """A rule version raised and was suspended."""
        ...

    def step(self, *, events: int, anomalies: int, lag_s: float) -> None:
        """One stored step: events evaluated, anomalies newly stored, and how far (in stream
        time) the evaluation cursor is behind the persisted frontier after it."""
        ...

    def idle(self) -> None:
        """This worker stopped evaluating (lost or gave up the lease): it lags nothing."""
        ...


class DeliveryMeter(Protocol):
    def delivery(self, channel: str, outcome: str, n: int) -> None:
        """`n` deliveries to `channel` reached `outcome` (sent, failed, dead, silenced, …)."""
        ...


class _NoMeter:
    def batch(
        self, *, inserted: int, duplicates: int, dead_lettered: int, redelivered: int
    ) -> None:
        pass

    def insert_seconds(self, seconds: float) -> None:
        pass

    def rule_seconds(self, rule_id: str, seconds: float) -> None:
        pass

    def rule_error(self, rule_id: str) -> None:
        pass

    def step(self, *, events: int, anomalies: int, lag_s: float) -> None:
        pass

    def idle(self) -> None:
        pass

    def delivery(self, channel: str, outcome: str, n: int) -> None:
        pass


NO_METER: Final = _NoMeter()
