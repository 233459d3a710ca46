from __future__ import annotations

from eventpulse.domain.engine import Counters, Evaluator, stream_arrival
from tests.unit.engine.support import arrivals, event, rule, run, summary

MATCH = rule(type="match", lateness="30s")


def test_an_event_older_than_the_watermark_is_dropped_and_counted() -> None:
    evaluator = Evaluator("rule-1", 1, MATCH)
    on_time, late, barely = event(100), event(60), event(70)

    evaluator.feed(arrivals([on_time, late, barely]))
    anomalies = evaluator.feed(arrivals([event(200)], start=3))

    assert [a.details["event_id"] for a in anomalies] == [
        str(barely.event_id),
        str(on_time.event_id),
    ]
    assert evaluator.counters == Counters(late_dropped=1, duplicates=0, replayed=0, suppressed=0)


def test_a_future_skewed_event_is_evaluated_but_does_not_move_the_watermark() -> None:
    spec = rule(type="match")
    evaluator = Evaluator("rule-1", 1, spec)
    skewed = event(10_000, ahead_of_receipt=3_600)

    first = evaluator.feed(arrivals([event(0), skewed, event(5)]))

    assert summary(first) == [({}, 0, 0, None)]
    assert evaluator.counters.late_dropped == 0
    assert summary(evaluator.feed(arrivals([event(10_001)], start=3))) == [
        ({}, 5, 5, None),
        ({}, 10_000, 10_000, None),
    ]


def test_an_event_just_within_the_skew_limit_moves_the_watermark() -> None:
    evaluator = Evaluator("rule-1", 1, rule(type="match"))

    evaluator.feed(arrivals([event(1_000, ahead_of_receipt=300), event(5)]))

    assert evaluator.counters.late_dropped == 1


def test_events_outside_the_filter_still_move_the_watermark() -> None:
    spec = rule(type="match", filter={"field": "source", "op": "eq", "value": "a"})

    assert summary(run(spec, [event(0), event(100, "b")])) == [({}, 0, 0, None)]


def test_a_redelivered_event_is_counted_once() -> None:
    evaluator = Evaluator("rule-1", 1, MATCH)
    once = event(10)

    evaluator.feed(arrivals([once, once]))
    anomalies = evaluator.feed(arrivals([event(100), once], start=2))

    assert len(anomalies) == 1
    assert evaluator.counters.duplicates == 1
    assert evaluator.counters.late_dropped == 1


def test_events_at_or_before_the_last_arrival_key_are_ignored_as_already_consumed() -> None:
    evaluator = Evaluator("rule-1", 1, MATCH)
    events = [event(t) for t in (0, 1, 2, 100)]

    evaluator.feed(arrivals(events[:3]))
    anomalies = evaluator.feed(arrivals(events[1:], start=1))

    assert len(anomalies) == 3
    assert evaluator.counters.replayed == 2


def test_stream_arrival_orders_entries_numerically() -> None:
    assert stream_arrival("9-0", 1) < stream_arrival("10-0", 0)
    assert stream_arrival("10-2", 0) == (10, 2, 0)


def test_cooldown_suppresses_anomalies_of_a_group_within_it_of_the_last_emitted_one() -> None:
    spec = rule(type="match", cooldown="1m", group_by=["source"])
    evaluator = Evaluator("rule-1", 1, spec)
    times = [0, 30, 59, 60, 100, 125]
    events = [event(t) for t in times] + [event(40, "b"), event(500, "b")]

    anomalies = evaluator.feed(arrivals(sorted(events, key=lambda e: e.ts)))

    assert summary(anomalies) == [
        ({"source": "a"}, 0, 0, None),
        ({"source": "b"}, 40, 40, None),
        ({"source": "a"}, 60, 60, None),
        ({"source": "a"}, 125, 125, None),
    ]
    assert evaluator.counters.suppressed == 3


def test_missing_and_null_group_fields_form_one_null_group_and_equal_numbers_one_group() -> None:
    spec = rule(
        type="threshold", agg="count", window="1m", op="gte", value=1, group_by=["payload.host"]
    )
    payloads = [{"host": "h1"}, {}, {"host": None}, {"host": 1.0}, {"host": 1}, {"host": True}]
    events = [event(i, payload=p) for i, p in enumerate(payloads)] + [event(60)]

    assert summary(run(spec, events)) == [
        ({"payload.host": "h1"}, 0, 60, 1),
        ({"payload.host": None}, 0, 60, 2),
        ({"payload.host": 1}, 0, 60, 2),
        ({"payload.host": True}, 0, 60, 1),
    ]
