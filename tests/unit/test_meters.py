"""The metering hooks: the worker and notifier loops tell a meter what their stats count, as it
happens, and the Prometheus meter turns that into metrics."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import pytest
from prometheus_client import REGISTRY

from eventpulse.application import evaluation as evaluation_module
from eventpulse.application.evaluation import LiveEvaluation
from eventpulse.application.notify_stats import NotifierStats
from eventpulse.application.persist import Persister, PersistPolicy
from eventpulse.application.ports import StreamEntry
from eventpulse.domain.engine import Evaluator
from eventpulse.infrastructure.prometheus_metrics import PrometheusMeter
from tests.unit.engine.support import event
from tests.unit.evaluation_fakes import FakeEvaluationStore, FakeFrontier, FakeRules, active
from tests.unit.fakes import FakeStore, FakeStream, HookRecorder, entry, wire_record

MATCH_B = {"type": "match", "filter": {"field": "source", "op": "eq", "value": "b"}}


@dataclass
class RecordingMeter:
    calls: list[tuple[Any, ...]] = field(default_factory=list)

    def batch(
        self, *, inserted: int, duplicates: int, dead_lettered: int, redelivered: int
    ) -> None:
        self.calls.append(("batch", inserted, duplicates, dead_lettered, redelivered))

    def insert_seconds(self, seconds: float) -> None:
        self.calls.append(("insert", seconds >= 0))

    def rule_seconds(self, rule_id: str, seconds: float) -> None:
        self.calls.append(("rule_seconds", rule_id))

    def rule_error(self, rule_id: str) -> None:
        self.calls.append(("rule_error", rule_id))

    def step(self, *, events: int, anomalies: int, lag_s: float) -> None:
        self.calls.append(("step", events, anomalies, lag_s))

    def idle(self) -> None:
        self.calls.append(("idle",))

    def delivery(self, channel: str, outcome: str, n: int) -> None:
        self.calls.append(("delivery", channel, outcome, n))

    def named(self, name: str) -> list[tuple[Any, ...]]:
        return [call for call in self.calls if call[0] == name]


def test_the_persister_meters_each_batch_as_its_stats_count_it() -> None:
    journal: list[tuple[Any, ...]] = []
    stop = threading.Event()
    meter = RecordingMeter()
    persister = Persister(
        FakeStream(journal, stop),
        FakeStore(journal),
        PersistPolicy(),
        HookRecorder(journal, None),
        meter=meter,
    )
    first = wire_record()

    persister.handle([entry("1-0", first, wire_record())], stop)
    persister.handle([entry("2-0", first, deliveries=2), StreamEntry("3-0", None, 1)], stop)

    assert meter.named("batch") == [("batch", 2, 0, 0, 0), ("batch", 0, 1, 1, 1)]
    assert meter.named("insert") == [("insert", True), ("insert", True)]


def stream(count: int) -> list[tuple[tuple[int, int, int], Any]]:
    """One event per stream entry (ms = n + 1), sources alternating a, b."""
    return [((1 + n, 0, 0), event(10 * n, "ab"[n % 2], number=n + 1)) for n in range(count)]


def test_the_evaluation_meters_steps_rule_time_and_its_lag_behind_the_frontier() -> None:
    meter = RecordingMeter()
    store = FakeEvaluationStore(stream(20))
    rules = FakeRules(active("b", **MATCH_B))
    live = LiveEvaluation(store, FakeFrontier((21, 0)), rules, batch_size=8, meter=meter)

    while live.step():
        pass
    live.resign()

    steps = meter.named("step")
    assert sum(s[1] for s in steps) == 20
    assert sum(s[2] for s in steps) == len(store.anomalies) > 0
    assert [s[3] for s in steps] == [0.013, 0.005, 0.0]  # ms 8 → 21, 16 → 21, then caught up
    assert meter.named("rule_seconds") == [("rule_seconds", "b")] * 3
    assert meter.calls[-1] == ("idle",)


def test_a_failing_rule_is_metered_as_a_rule_error(monkeypatch: pytest.MonkeyPatch) -> None:
    class Failing(Evaluator):
        def feed(self, events):  # type: ignore[no-untyped-def]
            raise ZeroDivisionError("boom")

    monkeypatch.setattr(evaluation_module, "Evaluator", Failing)
    meter = RecordingMeter()
    rules = FakeRules(active("fragile", **MATCH_B))
    live = LiveEvaluation(FakeEvaluationStore(stream(4)), FakeFrontier((5, 0)), rules, meter=meter)

    live.step()

    assert meter.named("rule_error") == [("rule_error", "fragile")]


def test_every_delivery_outcome_counted_by_the_notifier_is_metered() -> None:
    meter = RecordingMeter()
    stats = NotifierStats(meter=meter)

    stats.count("slack", "failed")
    stats.count("slack", "sent")
    stats.count("mail", "digested", 3)

    assert meter.calls == [
        ("delivery", "slack", "failed", 1),
        ("delivery", "slack", "sent", 1),
        ("delivery", "mail", "digested", 3),
    ]
    assert stats.snapshot()["channels"] == {
        "slack": {"failed": 1, "sent": 1},
        "mail": {"digested": 3},
    }


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_the_prometheus_meter_counts_into_the_metrics_the_endpoint_serves() -> None:
    meter = PrometheusMeter()
    persisted = sample("eventpulse_worker_events_persisted_total")
    dead = sample("eventpulse_worker_dead_lettered_total")
    inserts = sample("eventpulse_worker_insert_duration_seconds_count")
    errors = sample("eventpulse_rule_errors_total", rule_id="r-meter")
    sent = sample("eventpulse_notifier_deliveries_total", channel="c-meter", outcome="sent")

    meter.batch(inserted=7, duplicates=1, dead_lettered=2, redelivered=0)
    meter.insert_seconds(0.004)
    meter.rule_error("r-meter")
    meter.rule_seconds("r-meter", 0.5)
    meter.step(events=7, anomalies=1, lag_s=2.5)
    meter.delivery("c-meter", "sent", 2)

    assert sample("eventpulse_worker_events_persisted_total") == persisted + 7
    assert sample("eventpulse_worker_dead_lettered_total") == dead + 2
    assert sample("eventpulse_worker_insert_duration_seconds_count") == inserts + 1
    assert sample("eventpulse_rule_errors_total", rule_id="r-meter") == errors + 1
    assert sample("eventpulse_rule_evaluation_seconds_total", rule_id="r-meter") >= 0.5
    assert sample("eventpulse_evaluation_lag_seconds") == 2.5
    assert sample("eventpulse_notifier_deliveries_total", channel="c-meter", outcome="sent") == (
        sent + 2
    )
    meter.idle()
    assert sample("eventpulse_evaluation_lag_seconds") == 0
