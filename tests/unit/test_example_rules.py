"""The example rules of data/rules are valid, and each catches labelled failures of its NAB
series as its comment says (the engine fed the series in file order, as `eventpulse ingest`
sends it)."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import yaml

from eventpulse.application.rules import RESOURCE_FIELDS
from eventpulse.domain.engine import Anomaly, Evaluator
from eventpulse.domain.events import Event
from eventpulse.domain.rules import parse_rule

ROOT = Path(__file__).parents[2] / "data"
RULES = sorted((ROOT / "rules").glob("*.yaml"))

# rule file → (series, anomalies, anomalies in a labelled window, labelled windows caught)
EXPECTED = {
    "machine_temperature_drop.yaml": (
        "realKnownCause/machine_temperature_system_failure.csv",
        12,
        10,
        [True, True, False, True],
    ),
    "ec2_request_latency_spike.yaml": (
        "realKnownCause/ec2_request_latency_system_failure.csv",
        2,
        2,
        [False, True, True],
    ),
    "ambient_temperature_high.yaml": (
        "realKnownCause/ambient_temperature_system_failure.csv",
        1,
        1,
        [True, False],
    ),
}


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    assert isinstance(document, dict)
    return document


def series(name: str) -> list[tuple[int, Event]]:
    with (ROOT / "nab" / name).open() as f:
        rows = list(csv.DictReader(f))
    source = Path(name).stem
    pairs = []
    for n, row in enumerate(rows):
        ts = datetime.fromisoformat(row["timestamp"]).replace(tzinfo=UTC)
        event = Event(UUID(int=n + 1), "metric", source, ts, {"value": float(row["value"])}, ts)
        pairs.append((n, event))
    return pairs


def windows(name: str) -> list[tuple[datetime, datetime]]:
    labelled = json.loads((ROOT / "nab/labels/combined_windows.json").read_text())[name]
    return [
        (
            datetime.fromisoformat(a).replace(tzinfo=UTC),
            datetime.fromisoformat(b).replace(tzinfo=UTC),
        )
        for a, b in labelled
    ]


def inside(anomaly: Anomaly, window: tuple[datetime, datetime]) -> bool:
    start, end = window
    return anomaly.window_start <= end and anomaly.window_end >= start


def test_there_are_example_rules_for_each_documented_series() -> None:
    assert {path.name for path in RULES} == set(EXPECTED)


@pytest.mark.parametrize("path", RULES, ids=[p.name for p in RULES])
def test_an_example_rule_is_valid_and_catches_labelled_failures(path: Path) -> None:
    document = load(path)
    spec = parse_rule({k: v for k, v in document.items() if k not in RESOURCE_FIELDS})
    name, count, in_windows, caught = EXPECTED[path.name]
    labelled = windows(name)

    anomalies = Evaluator(document["rule_id"], 1, spec).feed(series(name))

    assert len(anomalies) == count
    assert sum(any(inside(a, w) for w in labelled) for a in anomalies) == in_windows
    assert [any(inside(a, w) for a in anomalies) for w in labelled] == caught
