from __future__ import annotations

from typing import Any

import pytest

from eventpulse.domain.engine import Evaluator
from tests.unit.engine.support import BASE, arrivals, event, rule, run, summary


def test_match_reports_every_final_matching_event_with_its_identity() -> None:
    spec = rule(type="match", filter={"field": "source", "op": "eq", "value": "a"})
    first, other, second, last = event(0), event(5, "b"), event(10), event(20)

    anomalies = run(spec, [first, other, second, last])

    assert summary(anomalies) == [({}, 0, 0, None), ({}, 10, 10, None)]
    assert anomalies[0].ts == BASE
    assert anomalies[1].details == {
        "event_id": str(second.event_id),
        "event_type": "t",
        "source": "a",
    }


def test_threshold_counts_per_group_and_judges_a_window_when_the_watermark_passes_it() -> None:
    spec = rule(type="threshold", agg="count", window="1m", op="gt", value=2, group_by=["source"])
    events = [event(0), event(10), event(20), event(30, "b"), event(59.5), event(70)]

    anomalies = run(spec, events)

    assert summary(anomalies) == [({"source": "a"}, 0, 60, 4)]
    assert anomalies[0].ts == anomalies[0].window_end
    assert anomalies[0].details == {"agg": "count", "count": 4, "op": "gt", "threshold": 2}


@pytest.mark.parametrize(
    ("agg", "op", "value", "expected", "skipped"),
    [
        ("sum", "gte", 12.5, 12.5, 3),
        ("avg", "gt", 4, 12.5 / 3, 3),
        ("min", "lt", 3, 2.5, 3),
        ("max", "gte", 5, 5, 3),
        ("distinct", "gte", 4, 4, None),
    ],
    ids=["sum", "avg", "min", "max", "distinct"],
)
def test_threshold_aggregates_numbers_and_skips_what_is_not_a_number(
    agg: str, op: str, value: float, expected: float, skipped: int | None
) -> None:
    spec = rule(type="threshold", agg=agg, field="payload.v", window="1m", op=op, value=value)
    values: list[dict[str, Any]] = [{"v": 5}, {"v": "x"}, {"v": True}, {}, {"v": 2.5}, {"v": 5.0}]
    events = [event(i, payload=payload) for i, payload in enumerate(values)] + [event(60)]

    (anomaly,) = run(spec, events)

    assert anomaly.value == expected
    assert anomaly.details.get("skipped") == skipped
    assert anomaly.details["count"] == 6


def test_threshold_without_numbers_has_no_average_and_raises_nothing() -> None:
    spec = rule(type="threshold", agg="avg", field="payload.v", window="1m", op="lt", value=1)

    assert run(spec, [event(0, payload={"v": "x"}), event(60)]) == []


def test_spike_compares_a_window_with_the_mean_of_the_windows_before_it() -> None:
    spec = rule(type="spike", window="1m", reference_windows=2, up=3, down=0.3, min_count=2)
    counts = {0: 2, 60: 2, 120: 6, 180: 1, 240: 0}
    events = [event(start + i) for start, n in counts.items() for i in range(n)]

    anomalies = run(spec, [*events, event(300)])

    assert summary(anomalies) == [({}, 120, 180, 6), ({}, 180, 240, 1), ({}, 240, 300, 0)]
    assert [a.details for a in anomalies] == [
        {"reference": 2.0, "ratio": 3.0, "direction": "up"},
        {"reference": 4.0, "ratio": 0.25, "direction": "down"},
        {"reference": 3.5, "ratio": 0.0, "direction": "down"},
    ]


def test_spike_forgets_a_group_silent_for_its_reference_windows_and_relearns_it() -> None:
    spec = rule(type="spike", window="1m", reference_windows=2, up=2, min_count=1)
    busy = [event(0), event(60), event(61)]
    # silent in [120, 240): forgotten; back at 240 with a burst judged only from 360 on
    back = [event(240), event(300), *[event(360 + i, "a") for i in range(4)]]

    anomalies = run(spec, [*busy, *back, event(420, "b")])

    assert summary(anomalies) == [({}, 360, 420, 4)]


def test_absence_reports_each_silent_window_of_a_known_group_until_forgotten() -> None:
    spec = rule(type="absence", window="1m", forget_after="2m", group_by=["source"], min_count=1)
    heartbeat = [event(t, "b") for t in (10, 70, 130, 190, 250, 310, 370)]
    events = sorted([event(5), event(65), *heartbeat], key=lambda e: e.ts)

    anomalies = run(spec, events)

    assert summary(anomalies) == [
        ({"source": "a"}, 120, 180, 0),
        ({"source": "a"}, 180, 240, 0),
    ]
    assert anomalies[0].details == {"min_count": 1, "last_seen": "2024-01-01T00:01:05+00:00"}


def test_absence_does_not_judge_the_first_window_of_a_group() -> None:
    spec = rule(type="absence", window="1m", min_count=3)

    anomalies = run(spec, [event(50), event(70), event(80), event(90), event(130)])

    assert summary(anomalies) == []


def test_absence_counts_below_min_count_not_only_silence() -> None:
    spec = rule(type="absence", window="1m", min_count=2)

    anomalies = run(spec, [event(0), event(70), event(130)])

    assert summary(anomalies) == [({}, 60, 120, 1)]


def test_new_value_reports_a_first_seen_value_per_group_after_learning() -> None:
    spec = rule(type="new_value", field="payload.user", learning="1m", group_by=["source"])
    events = [
        event(0, payload={"user": "u1"}),
        event(30, payload={"user": "u2"}),
        event(70, payload={"user": "u1"}),
        event(80, payload={"user": "u3"}),
        event(90, "b", payload={"user": "u1"}),
        event(100, payload={"user": "u3"}),
        event(110, payload={"user": None}),
        event(200),
    ]

    anomalies = run(spec, events)

    assert [(a.group, a.details["value"]) for a in anomalies] == [
        ({"source": "a"}, "u3"),
        ({"source": "b"}, "u1"),
        ({"source": "a"}, None),
    ]
    assert anomalies[0].details["event_id"] == str(events[3].event_id)
    assert summary(anomalies)[0] == ({"source": "a"}, 80, 80, None)


def test_new_value_treats_a_value_seen_before_the_lookback_as_new() -> None:
    spec = rule(type="new_value", field="payload.user", learning="10s", lookback="1m")
    events = [
        event(0, payload={"user": "u1"}),
        event(50, payload={"user": "u1"}),
        event(110, payload={"user": "u1"}),
        event(171, payload={"user": "u1"}),
        event(300),
    ]

    assert [a.ts for a in run(spec, events)] == [events[3].ts]


def test_the_last_windows_stay_open_until_later_events_arrive() -> None:
    spec = rule(type="threshold", agg="count", window="1m", op="gte", value=1)
    evaluator = Evaluator("rule-1", 1, spec)

    assert evaluator.feed(arrivals([event(0), event(30)])) == []
    assert evaluator.feed([]) == []
    assert summary(evaluator.feed(arrivals([event(61)], start=2))) == [({}, 0, 60, 2)]
