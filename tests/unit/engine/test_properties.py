"""Invariant 5 for the engine: anomalies depend on the rule version and the events only."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from eventpulse.domain.engine import Anomaly, Evaluator
from eventpulse.domain.events import Event
from eventpulse.domain.rules import RuleSpec
from tests.unit.engine.strategies import events, rule_specs
from tests.unit.engine.support import arrivals

ANY_LATENESS = st.sampled_from(["0s", "30s", "10m"])
EXAMPLES = settings(max_examples=120, deadline=None)


def evaluate(spec: RuleSpec, batch: list[Event]) -> tuple[list[Anomaly], Evaluator]:
    evaluator = Evaluator("rule-1", 3, spec)
    return evaluator.feed(arrivals(batch)), evaluator


@EXAMPLES
@given(spec=rule_specs(ANY_LATENESS), batch=events(), cuts=st.lists(st.integers(0, 40)))
def test_any_chunking_of_the_same_arrival_sequence_gives_the_same_anomalies(
    spec: RuleSpec, batch: list[Event], cuts: list[int]
) -> None:
    whole, reference = evaluate(spec, batch)
    evaluator = Evaluator("rule-1", 3, spec)
    sequence = arrivals(batch)
    bounds = [0, *sorted(min(cut, len(batch)) for cut in cuts), len(batch)]

    chunked = [
        anomaly
        for start, end in pairwise(bounds)
        for anomaly in evaluator.feed(iter(sequence[start:end]))
    ]

    assert chunked == whole
    assert evaluator.counters == reference.counters


@EXAMPLES
@given(spec=rule_specs(ANY_LATENESS), batch=events(), cut=st.integers(0, 40))
def test_a_checkpoint_restored_anywhere_gives_the_same_anomalies(
    spec: RuleSpec, batch: list[Event], cut: int
) -> None:
    whole, reference = evaluate(spec, batch)
    sequence = arrivals(batch)
    before = Evaluator("rule-1", 3, spec)
    first = before.feed(sequence[:cut])
    checkpoint = json.loads(json.dumps(before.state(), allow_nan=False))
    after = Evaluator("rule-1", 3, spec)

    after.restore(checkpoint)

    assert after.state() == checkpoint
    assert first + after.feed(sequence[cut:]) == whole
    assert after.counters == reference.counters


@EXAMPLES
@given(spec=rule_specs(st.just("10m")), batch=events(skew=False), seed=st.integers(0, 2**32))
def test_reordering_events_within_the_lateness_of_each_other_changes_nothing(
    spec: RuleSpec, batch: list[Event], seed: int
) -> None:
    in_order = sorted(batch, key=lambda event: event.ts)
    shuffled = _shuffle_within(in_order, timedelta(minutes=10), random.Random(seed))

    expected, ordered = evaluate(spec, in_order)
    actual, reordered = evaluate(spec, shuffled)

    assert actual == expected
    assert ordered.counters.late_dropped == reordered.counters.late_dropped == 0


@EXAMPLES
@given(spec=rule_specs(ANY_LATENESS), batch=events(max_size=60))
def test_anomaly_ids_are_unique_in_the_output_of_a_rule_version(
    spec: RuleSpec, batch: list[Event]
) -> None:
    anomalies, _ = evaluate(spec, batch)

    assert len({anomaly.anomaly_id for anomaly in anomalies}) == len(anomalies)


def _shuffle_within(in_order: list[Event], span: timedelta, rng: random.Random) -> list[Event]:
    """Shuffle consecutive blocks of events whose times lie less than `span` apart."""
    out: list[Event] = []
    block: list[Event] = []
    for event in in_order:
        if block and event.ts - block[0].ts >= span:
            rng.shuffle(block)
            out.extend(block)
            block = []
        block.append(event)
    rng.shuffle(block)
    return out + block


@EXAMPLES
@given(spec=rule_specs(ANY_LATENESS), batch=events())
def test_events_read_with_precomputed_epochs_give_the_same_anomalies(
    spec: RuleSpec, batch: list[Event]
) -> None:
    precomputed = [
        Event.with_epochs(e.event_id, e.event_type, e.source, e.ts, e.payload, e.received_at)
        for e in batch
    ]

    assert evaluate(spec, precomputed)[0] == evaluate(spec, batch)[0]
