"""The backtest use case over an in-memory history: the engine's own anomalies, whatever the
chunking; stored versions resolved like the rules API; the summary's numbers."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pytest

from eventpulse.application.backtest import (
    BacktestResult,
    FiresPerDay,
    RunBacktest,
    anomaly_document,
)
from eventpulse.application.rules import ManageRules, SilentAnnouncer
from eventpulse.domain.engine import Evaluator
from eventpulse.domain.errors import InvalidInput, NotFound
from eventpulse.domain.events import Event
from eventpulse.domain.rules import parse_rule
from eventpulse.infrastructure.jinja_messages import JinjaMessageTemplates
from tests.unit.engine.support import BASE, at, event
from tests.unit.history_fakes import FakeHistory
from tests.unit.rule_fakes import FakeRuleRepository

T = TypeVar("T")
DAY = 86_400
SINCE, UNTIL = BASE, BASE + timedelta(days=3)

RULE: dict[str, Any] = {
    "name": "busy source",
    "type": "threshold",
    "agg": "count",
    "window": "1m",
    "op": "gte",
    "value": 2,
    "group_by": ["source"],
    "lateness": "10s",
    "cooldown": "2m",
    "message": "{{ group.source }} is busy",
}


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def scenario() -> list[tuple[tuple[int, int, int], Event]]:
    """Stored events with their arrival keys (listed here in arrival order)."""
    a80 = event(80, "a")
    timeline = [
        event(-5, "a"),  # before `since`: not in the range
        event(0, "a"),
        event(5, "a"),
        event(10, "b"),
        event(70, "a"),  # W = 60: closes [0, 60) → a fires at 60 (count 2); b has 1
        event(40, "a"),  # ts < W: late, dropped
        event(75, "a"),
        a80,
        replace(a80, received_at=at(81)),  # the same event id again while pending: duplicate
        event(200, "b"),  # W = 190: [60, 120) a = 3 → fires at 120, within cooldown: suppressed
        event(DAY + 0, "a"),
        event(DAY + 1, "a"),
        event(DAY + 100, "b"),  # W = DAY + 90: closes [DAY, DAY + 60) → a fires at DAY + 60
        event(DAY + 150, "b"),  # [DAY + 60, DAY + 120) has b once: stays open, no flush
        event(3 * DAY, "a"),  # at `until`: not in the range
    ]
    return [((1_700_000_000_000 + n // 2, n % 2, n % 3), e) for n, e in enumerate(timeline)]


def in_range(pairs: list[tuple[tuple[int, int, int], Event]]) -> list[Any]:
    return [(arrival, e) for arrival, e in pairs if SINCE <= e.ts < UNTIL]


async def stored_rules(*documents: dict[str, Any]) -> ManageRules:
    """A rules use case holding rule `busy` with one version per document."""
    rules = ManageRules(FakeRuleRepository(), SilentAnnouncer())
    await rules.create(documents[0] | {"rule_id": "busy"})
    for document in documents[1:]:
        await rules.replace("busy", document)
    return rules


def backtest_of(
    history: FakeHistory, *documents: dict[str, Any], chunk_size: int = 5000
) -> tuple[RunBacktest, ManageRules]:
    rules = run(stored_rules(*documents)) if documents else None
    rules = rules or ManageRules(FakeRuleRepository(), SilentAnnouncer())
    return RunBacktest(history, rules, chunk_size=chunk_size), rules


def test_the_anomalies_are_those_of_the_evaluator_fed_the_range_in_arrival_order() -> None:
    pairs = scenario()
    use_case, _ = backtest_of(FakeHistory(pairs), RULE)

    result = run(use_case.stored("busy", None, SINCE, UNTIL))

    direct = Evaluator("busy", 1, parse_rule(RULE)).feed(in_range(pairs))
    assert result.anomalies == direct
    assert [(a.group, a.ts, a.value) for a in result.anomalies] == [
        ({"source": "a"}, at(60), 2),
        ({"source": "a"}, at(DAY + 60), 2),
    ]
    assert {a.rule_id for a in result.anomalies} == {"busy"}
    assert {a.rule_version for a in result.anomalies} == {1}


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 7, 5000])
def test_the_chunk_size_changes_nothing(chunk_size: int) -> None:
    history = FakeHistory(scenario())
    reference = run(backtest_of(FakeHistory(scenario()), RULE)[0].stored("busy", 1, SINCE, UNTIL))
    use_case, _ = backtest_of(history, RULE, chunk_size=chunk_size)

    result = run(use_case.stored("busy", 1, SINCE, UNTIL))

    assert result == reference
    assert max(history.chunk_sizes) <= chunk_size
    assert history.closed == 1


def test_the_summary_counts_the_range() -> None:
    use_case, _ = backtest_of(FakeHistory(scenario()), RULE)

    summary = run(use_case.stored("busy", None, SINCE, UNTIL)).summary

    assert (summary.rule_id, summary.rule_version) == ("busy", 1)
    assert (summary.since, summary.until) == (SINCE, UNTIL)
    assert summary.events_scanned == 13
    assert (summary.anomalies, summary.truncated, summary.groups) == (2, False, 1)
    assert (summary.late_dropped, summary.duplicates, summary.suppressed) == (1, 1, 1)
    assert summary.replayed == 0
    assert (summary.first_event_ts, summary.last_event_ts) == (at(0), at(DAY + 150))
    # Three days: 1, 1 and 0 anomalies.
    assert summary.days == 3
    assert summary.fires_per_day == FiresPerDay(mean=0.666667, p95=1, max=1)


def test_an_empty_range_has_a_zero_summary() -> None:
    use_case, _ = backtest_of(FakeHistory(), RULE)

    result = run(use_case.stored("busy", None, SINCE, SINCE + timedelta(hours=1)))

    assert result.anomalies == []
    summary = result.summary
    assert (summary.events_scanned, summary.anomalies, summary.days) == (0, 0, 1)
    assert (summary.first_event_ts, summary.last_event_ts) == (None, None)
    assert summary.fires_per_day == FiresPerDay(0.0, 0, 0)


def test_fires_per_day_p95_is_the_nearest_rank_over_every_day_of_the_range() -> None:
    # A match rule: one anomaly per final event. Day 0: 3, day 1: 1, days 2..19: none (the
    # last event is still pending: with lateness 0 it becomes final only after a later one).
    events = [event(t) for t in (1, 2, 3, DAY + 5, DAY + 6)]
    use_case, _ = backtest_of(FakeHistory(enumerate(events)), {"name": "m", "type": "match"})

    summary = run(use_case.stored("busy", None, SINCE, SINCE + timedelta(days=20))).summary

    assert summary.days == 20
    # sorted counts: 18 x 0, 1, 3 → rank ceil(0.95 * 20) = 19 → 1
    assert summary.fires_per_day == FiresPerDay(mean=0.2, p95=1, max=3)


def test_an_anomaly_after_until_counts_on_the_last_day() -> None:
    rule = RULE | {"cooldown": None}
    events = [event(DAY - 30, "a"), event(DAY - 20, "a"), event(DAY + 100, "a")]
    use_case, _ = backtest_of(FakeHistory(enumerate(events)), rule)

    result = run(use_case.stored("busy", None, SINCE, SINCE + timedelta(days=1, seconds=101)))

    assert [a.ts for a in result.anomalies] == [at(DAY)]
    # Two days; the anomaly at midnight of day 2 is on day 2 (inside the range).
    assert result.summary.fires_per_day == FiresPerDay(mean=0.5, p95=1, max=1)


def test_a_version_is_replayed_under_its_own_id_and_the_default_is_the_live_one() -> None:
    pairs = scenario()
    second = RULE | {"value": 3}
    use_case, _ = backtest_of(FakeHistory(pairs), RULE, second)

    first = run(use_case.stored("busy", 1, SINCE, UNTIL))
    live = run(use_case.stored("busy", None, SINCE, UNTIL))

    assert first.anomalies == Evaluator("busy", 1, parse_rule(RULE)).feed(in_range(pairs))
    assert live.anomalies == Evaluator("busy", 2, parse_rule(second)).feed(in_range(pairs))
    assert live.summary.rule_version == 2
    assert {a.rule_version for a in first.anomalies} == {1}


def test_a_deleted_rule_is_404_without_a_version_and_replayable_with_one() -> None:
    use_case, rules = backtest_of(FakeHistory(scenario()), RULE)
    run(rules.delete("busy"))

    with pytest.raises(NotFound):
        run(use_case.stored("busy", None, SINCE, UNTIL))
    assert len(run(use_case.stored("busy", 1, SINCE, UNTIL)).anomalies) == 2


@pytest.mark.parametrize(("rule_id", "version"), [("nope", None), ("nope", 1), ("busy", 3)])
def test_an_unknown_rule_or_version_is_not_found(rule_id: str, version: int | None) -> None:
    use_case, _ = backtest_of(FakeHistory(scenario()), RULE, RULE | {"value": 3})

    with pytest.raises(NotFound):
        run(use_case.stored(rule_id, version, SINCE, UNTIL))


@pytest.mark.parametrize(
    ("since", "until", "fields"),
    [
        (UNTIL, SINCE, ["until"]),
        (SINCE, SINCE, ["until"]),
        (datetime(2024, 1, 1), UNTIL, ["since"]),
        (datetime(2024, 1, 1), datetime(2024, 1, 2), ["since", "until"]),
    ],
    ids=["reversed", "empty", "naive-since", "both-naive"],
)
def test_a_bad_range_is_invalid_at_its_field(
    since: datetime, until: datetime, fields: list[str]
) -> None:
    use_case, _ = backtest_of(FakeHistory(), RULE)

    with pytest.raises(InvalidInput) as error:
        run(use_case.stored("busy", None, since, until))

    assert [e.field for e in error.value.errors] == fields


def test_a_rule_document_runs_as_version_0_of_backtest_or_of_its_own_id() -> None:
    pairs = scenario()
    use_case, _ = backtest_of(FakeHistory(pairs))

    anonymous = run(use_case.document(RULE, SINCE, UNTIL))
    named = run(use_case.document(RULE | {"rule_id": "mine", "version": 7}, SINCE, UNTIL))

    spec = parse_rule(RULE)
    assert anonymous.anomalies == Evaluator("backtest", 0, spec).feed(in_range(pairs))
    assert named.anomalies == Evaluator("mine", 0, spec).feed(in_range(pairs))
    assert (named.summary.rule_id, named.summary.rule_version) == ("mine", 0)


def test_a_bad_rule_document_is_invalid_at_rule_paths_with_the_range_faults_too() -> None:
    use_case, _ = backtest_of(FakeHistory())
    bad = RULE | {"op": "bigger", "rule_id": "Not An Id"}

    with pytest.raises(InvalidInput) as error:
        run(use_case.document(bad, UNTIL, SINCE))

    assert sorted(e.field for e in error.value.errors) == ["rule.op", "rule.rule_id", "until"]


def test_max_anomalies_keeps_the_first_and_counts_them_all() -> None:
    events = [event(t) for t in range(10)]
    use_case, _ = backtest_of(FakeHistory(enumerate(events)), {"name": "m", "type": "match"})

    result = run(use_case.stored("busy", None, SINCE, UNTIL, max_anomalies=3))

    assert [a.details["event_id"] for a in result.anomalies] == [
        str(e.event_id) for e in events[:3]
    ]
    # The last event stays pending (no flush): 9 anomalies in all.
    assert (result.summary.anomalies, result.summary.truncated) == (9, True)


def test_the_anomaly_document_has_the_design_shape() -> None:
    use_case, _ = backtest_of(FakeHistory(scenario()), RULE)
    result: BacktestResult = run(use_case.stored("busy", None, SINCE, UNTIL))

    document = anomaly_document(result.anomalies[0])

    assert list(document) == [
        "anomaly_id",
        "rule_id",
        "rule_version",
        "severity",
        "group",
        "window_start",
        "window_end",
        "ts",
        "value",
        "message",
        "details",
        "created_at",
    ]
    assert document["message"] == "{{ group.source }} is busy"
    assert document["created_at"] is None


def test_with_templates_messages_are_rendered_as_the_worker_renders_them() -> None:
    rules = run(stored_rules(RULE))
    use_case = RunBacktest(FakeHistory(scenario()), rules, templates=JinjaMessageTemplates())

    result = run(use_case.stored("busy", None, SINCE, UNTIL))

    assert [a.message for a in result.anomalies] == ["a is busy", "a is busy"]


def test_a_rule_document_with_a_refused_template_is_a_422_at_rule_message() -> None:
    rules = ManageRules(FakeRuleRepository(), SilentAnnouncer())
    use_case = RunBacktest(FakeHistory([]), rules, templates=JinjaMessageTemplates())

    with pytest.raises(InvalidInput) as error:
        run(use_case.document(RULE | {"message": "{{ 'x' * 10**9 }}"}, SINCE, UNTIL))

    assert [e.field for e in error.value.errors] == ["rule.message"]
