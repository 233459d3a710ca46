"""Scoring several series against labelled incidents, checked against numbers worked by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from eventpulse.application.labels import (
    Detection,
    Incident,
    LabelWindow,
    hits,
    score_incidents,
)
from eventpulse.domain.errors import InvalidInput

DAY0 = datetime(2024, 1, 1, tzinfo=UTC)


def h(hours: float) -> datetime:
    return DAY0 + timedelta(hours=hours)


def incident(series: str, name: str, start: float, end: float) -> Incident:
    return Incident(series, name, LabelWindow(h(start), h(end)))


def detection(series: str | None, start: float, end: float, ts: float | None = None) -> Detection:
    return Detection(series, h(start), h(end), h(end if ts is None else ts))


W1 = incident("a", "a#1", 10, 12)
W2 = incident("a", "a#2", 11, 14)  # overlaps W1
W3 = incident("a", "a#3", 30, 31)
W4 = incident("c", "c#1", 5, 6)


def test_a_hit_is_an_overlap_with_the_bounds_included() -> None:
    window = LabelWindow(h(10), h(12))

    assert hits(h(9), h(10), window) and hits(h(12), h(13), window) and hits(h(11), h(11), window)
    assert not hits(h(8), h(9.99), window) and not hits(h(12.01), h(13), window)


def test_windows_count_only_their_own_series_and_unlabelled_series_only_false_alarm() -> None:
    detections = [
        detection("a", 9, 10),  # touches W1's start: W1 caught, delay 0
        detection("a", 11.5, 11.5),  # inside W1 and W2: both caught, one true positive
        detection("a", 20, 21),  # in no window: a false alarm
        detection("b", 10, 11),  # series b has no windows: a false alarm, though a's W1 is then
        detection("c", 4, 5),  # touches W4's start
        detection("d", 10, 11),  # not in scope: left out
    ]

    scored = score_incidents(detections, [W1, W2, W3, W4], ["a", "b", "c"], series_days=6.0)

    assert (scored.anomalies, scored.true_positives, scored.false_alarms) == (5, 3, 2)
    assert (scored.caught, len(scored.outcomes)) == (3, 4)
    assert scored.precision == pytest.approx(3 / 5)
    assert scored.recall == pytest.approx(3 / 4)
    assert scored.f1 == pytest.approx(2 * 0.6 * 0.75 / (0.6 + 0.75))
    assert scored.false_alarms_per_series_day == pytest.approx(2 / 6)
    assert scored.missed == [W3]
    delays = {o.incident.name: o.delay for o in scored.outcomes}
    assert delays == {
        "a#1": timedelta(0),
        "a#2": timedelta(minutes=30),
        "a#3": None,
        "c#1": timedelta(0),
    }
    assert [o.anomalies for o in scored.outcomes] == [2, 1, 0, 1]


def test_an_anomaly_that_fired_before_its_window_opened_has_no_negative_delay() -> None:
    scored = score_incidents([detection("a", 8, 11, ts=9)], [W1], ["a"], series_days=1.0)

    assert scored.outcomes[0].delay == timedelta(0)
    assert scored.outcomes[0].first_hit == h(9)


def test_the_first_hit_is_the_earliest_firing_whatever_the_order() -> None:
    later, earlier = detection("a", 11.5, 11.75), detection("a", 10.5, 11)

    scored = score_incidents([later, earlier], [W1], ["a"], series_days=1.0)

    assert scored.outcomes[0].first_hit == h(11)
    assert scored.outcomes[0].delay == timedelta(hours=1)


def test_anomalies_without_a_series_belong_to_the_only_series_in_scope() -> None:
    scored = score_incidents([detection(None, 11, 11)], [W1, W4], ["a"], series_days=1.0)

    assert (scored.true_positives, scored.caught, len(scored.outcomes)) == (1, 1, 1)
    with pytest.raises(InvalidInput) as several:
        score_incidents([detection(None, 11, 11)], [W1, W4], ["a", "c"], series_days=1.0)
    assert [e.field for e in several.value.errors] == ["series"]


def test_undefined_ratios_are_none_rather_than_zero() -> None:
    nothing = score_incidents([], [], ["a"], series_days=1.0)
    no_windows = score_incidents([detection("a", 1, 2)], [], ["a"], series_days=0.0)
    all_missed = score_incidents([detection("a", 1, 2)], [W1], ["a"], series_days=1.0)

    assert (nothing.precision, nothing.recall, nothing.f1) == (None, None, None)
    assert (no_windows.precision, no_windows.recall, no_windows.f1) == (0.0, None, None)
    assert no_windows.false_alarms_per_series_day is None
    assert (all_missed.precision, all_missed.recall, all_missed.f1) == (0.0, 0.0, 0.0)
