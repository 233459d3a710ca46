"""`score` and `compare` over hand-made backtest results: the numbers worked by hand."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from eventpulse.workbench import compare, score
from tests.unit.workbench.support import DAY0, anomaly, at, result

NAB = Path(__file__).parents[3] / "data/nab/labels/combined_windows.json"
LABELS = {
    "realX/a.csv": [["2024-01-01 10:00:00.000000", "2024-01-01 12:00:00.000000"]],
    "realX/b.csv": [],
    "realX/c.csv": [
        ["2024-01-01 05:00:00.000000", "2024-01-01 06:00:00.000000"],
        ["2024-01-01 05:30:00.000000", "2024-01-01 08:00:00.000000"],
    ],
}


def test_score_reads_nab_windows_by_file_stem_and_counts_per_series() -> None:
    backtest = result(
        [
            anomaly(9, 10, source="a"),  # hits a's window (its start)
            anomaly(20, 21, source="a"),  # a false alarm
            anomaly(11, 11, source="b"),  # b is labelled with no window: a false alarm
            anomaly(5.75, 5.75, source="c"),  # in both of c's overlapping windows
        ]
    )

    scored = score(backtest, LABELS)

    assert scored.as_dict() | {"mean_delay": None} == {
        "series": ["a", "b", "c"],
        "windows": 3,
        "windows_caught": 3,
        "anomalies": 4,
        "anomalies_in_windows": 2,
        "false_alarms": 2,
        "precision": 0.5,
        "recall": 1.0,
        "f1": pytest.approx(2 / 3),
        "false_alarms_per_series_day": pytest.approx(2 / 6),  # 2 days x 3 series
        "series_days": 6.0,
        "mean_delay": None,
        "missed": [],
    }
    # delays: a#1 0 (fired at its start), c#1 45 min, c#2 15 min
    assert scored.mean_delay == timedelta(minutes=20)
    assert list(scored.by_window["incident"]) == [
        "a #1 (2024-01-01)",
        "c #1 (2024-01-01)",
        "c #2 (2024-01-01)",
    ]


def test_score_one_series_from_a_frame_or_a_plain_list_and_name_the_missed() -> None:
    backtest = result([anomaly(11, 11, source=None), anomaly(40, 41, source=None)])
    frame = pd.DataFrame(
        {
            "start": [at(10), at(30)],
            "end": [at(12), at(31)],
            "source": ["m", "m"],
            "name": ["first failure", "second failure"],
        }
    )
    windows = [[at(10).isoformat(), at(12).isoformat()], [at(30).isoformat(), at(31).isoformat()]]

    from_frame = score(backtest, frame, series="m")
    from_list = score(backtest, windows, series="m")

    for scored in (from_frame, from_list):
        assert (scored.precision, scored.recall, scored.false_alarms) == (0.5, 0.5, 1)
    assert from_frame.missed == ["second failure"]
    assert from_list.missed == ["m #2 (2024-01-02)"]


def test_score_the_sample_labels_file_for_one_series() -> None:
    machine = json.loads(NAB.read_text())["realKnownCause/machine_temperature_system_failure.csv"]
    first = pd.Timestamp(machine[0][0], tz="UTC").to_pydatetime()
    hours = (first - DAY0) / timedelta(hours=1)
    backtest = result(
        [anomaly(hours - 1, hours, source="machine_temperature_system_failure")],
        first=first - timedelta(days=1),
        last=first + timedelta(days=1),
    )

    scored = score(backtest, NAB, series="machine_temperature_system_failure")

    assert (scored.recall, scored.precision, len(scored.missed)) == (0.25, 1.0, 3)
    assert scored.false_alarms_per_series_day == 0.0


def test_compare_matches_anomalies_by_group_and_overlapping_windows() -> None:
    candidate = result(
        [
            anomaly(1, 2, rule_id="cand", version=0),  # same window as live's
            anomaly(5, 6, rule_id="cand", version=0),  # 30 min after live's, apart
            anomaly(10, 11, rule_id="cand", version=0),  # only the candidate
            anomaly(1, 2, source="b", rule_id="cand", version=0),  # other group
        ],
        rule_id="cand",
        version=0,
    )
    live = result(
        [anomaly(1, 2), anomaly(3.5, 4.5), anomaly(30, 31)],
    )

    exact = compare(candidate, live)
    loose = compare(candidate, live, tolerance="30m")

    assert (len(exact.both), len(exact.only_candidate), len(exact.only_live)) == (1, 3, 2)
    assert list(exact.both["live_ids"]) == [["r-1-a-1-2"]]
    assert (len(loose.both), len(loose.only_candidate), len(loose.only_live)) == (2, 2, 1)
    assert list(loose.only_live["anomaly_id"]) == ["r-1-a-30-31"]
    summary = loose.summary()
    assert summary.loc["anomalies"].tolist() == [4, 3]
    assert summary.loc["matched"].tolist() == [2, 2]
    per_day = loose.fires_per_day
    assert per_day.to_dict("list") == {"candidate": [4, 0], "live": [2, 1]}
    assert len(loose.figure().data) == 2
