"""Scoring anomalies against labelled windows."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from eventpulse.application.labels import LabelWindow, label_windows, score
from eventpulse.domain.errors import InvalidInput

NAB_LABELS = Path(__file__).parents[2] / "data/nab/labels/combined_windows.json"


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_nab_windows_are_found_by_key_or_file_stem_and_read_as_utc() -> None:
    data = json.loads(NAB_LABELS.read_text())

    by_stem = label_windows(data, "machine_temperature_system_failure")
    by_key = label_windows(data, "realKnownCause/machine_temperature_system_failure.csv")

    assert by_stem == by_key and len(by_stem) == 4
    assert all(w.start.tzinfo is not None and w.start < w.end for w in by_stem)


def test_a_mapping_of_several_series_needs_one_named_and_bad_windows_are_named() -> None:
    with pytest.raises(InvalidInput) as several:
        label_windows({"a.csv": [], "b.csv": []})
    with pytest.raises(InvalidInput) as bad:
        label_windows([["2024-01-01", "2024-01-02"], ["x", "y"], ["2024-01-03", "2024-01-01"]])

    assert [e.field for e in several.value.errors] == ["series"]
    assert [e.field for e in bad.value.errors] == ["labels[1]", "labels[2]"]


def test_windows_caught_and_anomalies_inside_give_recall_and_precision() -> None:
    windows = [
        LabelWindow(t("2024-01-01T10:00"), t("2024-01-01T12:00")),
        LabelWindow(t("2024-01-02T10:00"), t("2024-01-02T12:00")),
    ]
    spans = [
        (t("2024-01-01T09:00"), t("2024-01-01T10:00")),  # touches the first window's start
        (t("2024-01-01T11:00"), t("2024-01-01T11:00")),  # a per-event anomaly inside it
        (t("2024-01-03T00:00"), t("2024-01-03T01:00")),  # outside every window
    ]

    scored = score(spans, windows)

    assert (scored.windows_caught, scored.anomalies_in_windows) == (1, 2)
    assert scored.recall == 0.5 and scored.precision == pytest.approx(2 / 3)
    assert scored.missed == [windows[1]]
    assert score([], []).as_dict()["recall"] is None
