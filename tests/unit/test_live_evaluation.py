"""The live evaluation loop over in-memory ports: the frontier, checkpoints, takeovers, rule
changes and a failing rule."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from eventpulse.application import evaluation as evaluation_module
from eventpulse.application.evaluation import LeaseLost, LiveEvaluation, Position
from eventpulse.application.rule_set import NOT_LOADED, RuleSet
from eventpulse.domain.engine import Anomaly, Evaluator
from eventpulse.domain.errors import StreamUnavailable
from eventpulse.domain.events import Event
from tests.unit.engine.support import event
from tests.unit.evaluation_fakes import FakeEvaluationStore, FakeFrontier, FakeRules, active

COUNT = {"type": "threshold", "agg": "count", "window": "1m", "op": "gte", "value": 3}
MATCH_B = {"type": "match", "filter": {"field": "source", "op": "eq", "value": "b"}}


def stream(count: int, per_entry: int = 4) -> list[tuple[Position, Event]]:
    """`count` events, one every 10 s, `per_entry` to a stream entry (ms = entry number)."""
    return [
        ((1 + n // per_entry, 0, n % per_entry), event(10 * n, "ab"[n % 2], number=n + 1))
        for n in range(count)
    ]


def expected(
    rule_id: str, document: dict[str, object], pairs: list[tuple[Position, Event]]
) -> list[str]:
    return sorted(
        a.anomaly_id for a in Evaluator(rule_id, 1, active(rule_id, **document).spec).feed(pairs)
    )


def drain(live: LiveEvaluation, limit: int = 1000) -> int:
    steps = 0
    while live.step():
        steps += 1
        assert steps < limit
    return steps


def test_only_events_before_the_persisted_frontier_are_evaluated() -> None:
    pairs = stream(40)
    store, frontier = FakeEvaluationStore(pairs), FakeFrontier((6, 0))
    live = LiveEvaluation(store, frontier, FakeRules(active("count", **COUNT)))

    drain(live)
    assert store.cursor == (6, 0, -1)
    seen_first = set(store.anomalies)

    frontier.at = (11, 0)  # entries 1..10: everything
    drain(live)

    assert seen_first <= set(store.anomalies)
    assert sorted(store.anomalies) == expected("count", COUNT, pairs)


def test_the_result_does_not_depend_on_the_step_size() -> None:
    pairs = stream(60)
    results = []
    for batch in (1, 7, 1000):
        store = FakeEvaluationStore(pairs)
        live = LiveEvaluation(
            store, FakeFrontier((100, 0)), FakeRules(active("count", **COUNT)), batch_size=batch
        )
        drain(live)
        results.append(sorted(store.anomalies))
    assert results[0] == results[1] == results[2] == expected("count", COUNT, pairs)


def test_without_rules_the_cursor_moves_to_the_frontier_without_reading_events() -> None:
    store = FakeEvaluationStore(stream(20))
    live = LiveEvaluation(store, FakeFrontier((5, 0)), FakeRules())

    assert live.step()
    assert not live.step()  # nothing new: no commit

    assert store.cursor == (5, 0, -1)
    assert store.reads == 0


def test_an_unmoved_frontier_is_not_read_again() -> None:
    store = FakeEvaluationStore(stream(20))
    live = LiveEvaluation(store, FakeFrontier((3, 0)), FakeRules(active("count", **COUNT)))
    drain(live)
    reads = store.reads

    assert not live.step()
    assert store.reads == reads


def test_a_new_evaluator_resumes_from_the_stored_checkpoint_without_repeating_anything() -> None:
    pairs = stream(50)
    store, frontier = FakeEvaluationStore(pairs), FakeFrontier((5, 0))
    rules = FakeRules(active("count", **COUNT), active("b", **MATCH_B))
    first = LiveEvaluation(store, frontier, rules, batch_size=3)
    drain(first)
    # The first holder dies; its in-memory state goes with it.
    frontier.at = (100, 0)
    second = LiveEvaluation(store, frontier, rules, batch_size=3)
    drain(second)

    everything = expected("count", COUNT, pairs) + expected("b", MATCH_B, pairs)
    assert sorted(store.anomalies) == sorted(everything)
    assert first.stats.anomalies + second.stats.anomalies == len(everything)


def test_a_holder_whose_checkpoint_moved_stores_nothing_and_resigns() -> None:
    pairs = stream(30)
    store, frontier = FakeEvaluationStore(pairs), FakeFrontier((3, 0))
    rules = FakeRules(active("b", **MATCH_B))
    stale = LiveEvaluation(store, frontier, rules)
    drain(stale)
    other = LiveEvaluation(store, frontier, rules)
    frontier.at = (6, 0)
    drain(other)  # another worker advanced the checkpoint meanwhile
    frontier.at = (9, 0)

    with pytest.raises(LeaseLost):
        stale.step()
    stale.resign()
    drain(stale)  # reloads the stored checkpoint and carries on from there

    assert store.cursor == (9, 0, -1)
    assert sorted(store.anomalies) == expected("b", MATCH_B, [p for p in pairs if p[0] < (9, 0, 0)])


def test_a_new_version_starts_where_the_old_one_ends() -> None:
    pairs = stream(40)
    store, frontier = FakeEvaluationStore(pairs), FakeFrontier((5, 0))
    rules = FakeRules(active("count", **COUNT))
    live = LiveEvaluation(store, frontier, rules)
    drain(live)
    rules.set(active("count", 2, **(COUNT | {"value": 2})))
    frontier.at = (100, 0)
    drain(live)

    assert store.spans[("count", 1)] == ((0, 0, 0), (5, 0, -1))
    assert store.spans[("count", 2)] == ((5, 0, -1), None)
    version_2 = Evaluator("count", 2, active("count", 2, **(COUNT | {"value": 2})).spec)
    later = [p for p in pairs if p[0] > (5, 0, -1)]
    assert {a.anomaly_id for a in version_2.feed(later)} == {
        a.anomaly_id for a in store.anomalies.values() if a.rule_version == 2
    }


def test_a_failing_rule_is_suspended_and_the_others_carry_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    pairs = stream(40)
    poison = pairs[21][1].event_id

    class Fragile(Evaluator):
        def feed(self, events):  # type: ignore[no-untyped-def]
            events = list(events)
            if self.rule_id == "fragile" and any(e.event_id == poison for _, e in events):
                raise ZeroDivisionError("boom")
            return super().feed(events)

    monkeypatch.setattr(evaluation_module, "Evaluator", Fragile)
    store = FakeEvaluationStore(pairs)
    rules = FakeRules(active("b", **MATCH_B), active("fragile", **MATCH_B))
    live = LiveEvaluation(store, FakeFrontier((100, 0)), rules, batch_size=10)

    drain(live)

    assert sorted(a.anomaly_id for a in store.anomalies.values() if a.rule_id == "b") == expected(
        "b", MATCH_B, pairs
    )
    fragile = [a for a in store.anomalies.values() if a.rule_id == "fragile"]
    assert len(fragile) == len([p for p in pairs[:21] if p[1].source == "b"])
    assert live.stats.rule_errors == {"fragile": 1}
    assert store.spans[("fragile", 1)][1] is not None  # ended: it never runs again
    assert f"rule fragile v1 failed on event {poison}" in caplog.text


def test_messages_are_rendered_before_they_are_stored() -> None:
    store = FakeEvaluationStore(stream(10))

    def render(anomaly: Anomaly, rule: object) -> Anomaly:
        return replace(anomaly, message=f"hello {anomaly.group}")

    live = LiveEvaluation(
        store, FakeFrontier((100, 0)), FakeRules(active("b", **MATCH_B)), render=render
    )
    drain(live)

    assert store.anomalies
    assert all(a.message == "hello {}" for a in store.anomalies.values())


def test_the_loop_resigns_after_a_failed_step_and_resumes_from_the_checkpoint() -> None:
    pairs = stream(10)
    store = FakeEvaluationStore(pairs)
    stop, wake = threading.Event(), threading.Event()
    seen: list[int] = []

    class FlakyFrontier(FakeFrontier):
        calls = 0

        def frontier(self) -> tuple[int, int] | None:
            self.calls += 1
            if self.calls == 1:
                raise StreamUnavailable("redis went away")
            return super().frontier()

    def on_anomalies(found: list[Anomaly]) -> None:
        seen.append(len(found))
        stop.set()

    live = LiveEvaluation(
        store, FlakyFrontier((100, 0)), FakeRules(active("b", **MATCH_B)), on_anomalies=on_anomalies
    )
    live.run(stop, wake, idle_s=0.01)

    assert seen == [len(expected("b", MATCH_B, pairs))]
    assert live.stats.takeovers == 2  # led, failed and resigned, led again
    assert not live.leading  # a stopped loop gives the lease up


def test_nothing_is_evaluated_or_ended_before_the_workers_first_rule_load() -> None:
    store = FakeEvaluationStore(stream(20))
    leader = LiveEvaluation(store, FakeFrontier((3, 0)), FakeRules(active("b", **MATCH_B)))
    drain(leader)
    restarted_rules = FakeRules()
    restarted_rules.current = RuleSet(NOT_LOADED)  # a worker that has not loaded its rules yet
    restarted = LiveEvaluation(store, FakeFrontier((100, 0)), restarted_rules)

    assert not restarted.step()
    assert not restarted.leading
    assert store.cursor == (3, 0, -1) and store.spans[("b", 1)][1] is None
