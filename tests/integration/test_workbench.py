"""The notebook workbench on a real product (API + worker processes, PostgreSQL, Redis) seeded
with the NAB sample as `eventpulse up --seed` seeds it.

Before the sample goes in, the workbench publishes a tuned rule (`machine-cold`, 3-hour mean
below 55) and the worker confirms it; the example rules come with the seed. So the live worker
evaluates the whole sample with four rules, and the workbench's backtest of each must give
exactly its stored anomalies, ids included (invariant 6).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import psycopg
import pytest
import redis

from eventpulse.infrastructure.settings import Settings
from eventpulse.workbench import (
    InvalidRule,
    PublishNotConfirmed,
    Rule,
    TooManyRows,
    Workbench,
    compare,
    rule,
    score,
)
from tests.conftest import Servers
from tests.seeded_stack import DATA, SAMPLE_EVENTS, SeededStack, seeded_stack

LABELS = DATA / "nab/labels/combined_windows.json"
MACHINE = "machine_temperature_system_failure"
SINCE, UNTIL = "2013-01-01", "2016-01-01"  # the whole sample
MACHINE_ROWS = 22_695


def example(name: str) -> Rule:
    return rule(DATA / "rules" / f"{name}.yaml")


def tuned() -> Rule:
    return example("machine_temperature_drop").with_fields(
        rule_id="machine-cold", window="3h", value=55
    )


@pytest.fixture(scope="module")
def stack(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeededStack]:
    def publish_tuned(settings: Settings) -> None:
        with Workbench.connect(settings=settings) as wb:
            published = wb.publish(tuned(), note="3h mean below 55")
        assert (published.version, [w.worker for w in published.workers]) == (1, ["w1"])

    with seeded_stack(servers, tmp_path_factory.mktemp("wb"), before_seed=publish_tuned) as s:
        yield s


@pytest.fixture
def wb(stack: SeededStack) -> Iterator[Workbench]:
    with Workbench.connect(settings=stack.settings) as workbench:
        yield workbench


def test_events_load_into_pandas_in_bounded_chunks(wb: Workbench) -> None:
    everything = wb.events(SINCE, UNTIL)
    machine = wb.events(SINCE, UNTIL, source=MACHINE, chunk_rows=5_000)
    chunks = list(wb.iter_events(SINCE, UNTIL, source=MACHINE, chunk_rows=5_000))

    assert len(everything) == SAMPLE_EVENTS
    assert everything["ts"].is_monotonic_increasing
    assert everything["source"].nunique() == 7
    assert len(machine) == MACHINE_ROWS and set(machine["source"]) == {MACHINE}
    assert str(machine["payload.value"].dtype) == "float64"
    assert machine["ts"].min() == pd.Timestamp("2013-12-02 21:15", tz="UTC")
    assert [len(c) for c in chunks] == [5_000] * 4 + [MACHINE_ROWS - 20_000]
    assert pd.concat(chunks, ignore_index=True).equals(machine)
    assert machine["event_id"].is_unique
    with pytest.raises(TooManyRows):
        wb.events(SINCE, UNTIL, max_rows=10_000)
    assert wb.events(SINCE, UNTIL, event_type="no such type").empty


@pytest.mark.parametrize(
    ("rule_id", "anomalies"),
    [
        ("machine-cold", 16),  # published from the workbench
        ("machine-temperature-drop", 12),  # the seeded examples
        ("ec2-request-latency-spike", 2),
        ("ambient-temperature-high", 1),
    ],
)
def test_the_backtest_of_a_published_rule_is_what_the_live_worker_stored(
    wb: Workbench, stack: SeededStack, rule_id: str, anomalies: int
) -> None:
    backtest = wb.backtest(rule_id, SINCE, UNTIL)
    live = wb.anomalies(rule_id=rule_id)

    assert len(backtest.anomalies) == anomalies
    compared = ["anomaly_id", "rule_version", "window_start", "window_end", "ts", "value"]
    assert (
        backtest.anomalies[compared]
        .sort_values("anomaly_id")
        .reset_index(drop=True)
        .equals(live[compared].sort_values("anomaly_id").reset_index(drop=True))
    )
    assert list(backtest.anomalies["message"]) == list(live["message"])
    with psycopg.connect(stack.settings.database_url or "") as db:
        rows = db.execute("SELECT anomaly_id FROM anomalies WHERE rule_id = %s", (rule_id,))
        assert sorted(r[0] for r in rows) == sorted(backtest.anomalies["anomaly_id"])


def test_scores_against_the_nab_labels_and_the_comparison_with_the_live_rule(
    wb: Workbench,
) -> None:
    live = wb.backtest("machine-temperature-drop", SINCE, UNTIL)
    candidate = wb.backtest(tuned().with_fields(rule_id="candidate"), SINCE, UNTIL)

    live_score = score(live, LABELS, series=MACHINE)
    candidate_score = score(candidate, LABELS, series=MACHINE)
    compared = compare(candidate, live, tolerance="1h")

    assert (live_score.recall, live_score.precision) == (0.75, 10 / 12)
    assert live_score.missed == [f"{MACHINE} #3 (2014-01-27)"]
    assert (candidate_score.recall, candidate_score.precision) == (1.0, 13 / 16)
    assert candidate_score.f1 == pytest.approx(2 * (13 / 16) / (1 + 13 / 16))
    assert candidate_score.f1 > (live_score.f1 or 0)
    assert candidate.summary()["anomalies"] == 16 and candidate.rule_version == 0
    assert len(compared.both) + len(compared.only_candidate) == 16
    assert len(compared.only_live) + len(set().union(*compared.both["live_ids"])) == 12
    assert compared.fires_per_day.sum().to_dict() == {"candidate": 16, "live": 12}


def test_publish_shows_the_diff_refuses_invalid_rules_and_the_worker_confirms(
    wb: Workbench,
) -> None:
    first = wb.publish(example("ambient_temperature_high").with_fields(rule_id="ambient-copy"))
    change = wb.live_rule("ambient-copy").with_fields(value=86)

    diff = wb.diff(change)
    published = wb.publish(change, note="a little warmer")
    again = wb.publish(change)

    assert (first.version, first.previous_version) == (1, None)
    assert [line for line in diff.lines if line.startswith(("-value", "+value"))] == [
        "-value: 84",
        "+value: 86",
    ]
    assert (published.version, published.previous_version, published.stored_new_version) == (
        2,
        1,
        True,
    )
    assert published.workers[0].worker == "w1"
    assert published.workers[0].versions["ambient-copy"] == 2
    assert (again.version, again.stored_new_version) == (2, False)
    with pytest.raises(InvalidRule) as refused:
        wb.publish(change.with_fields(op="above"))
    assert [e.field for e in refused.value.errors] == ["op"]
    versions = wb.rule_versions("ambient-copy")
    assert versions["version"].tolist() == [1, 2]
    assert pd.isna(versions["note"][0]) and versions["note"][1] == "a little warmer"
    assert "ambient-copy" in set(wb.rules()["rule_id"])
    assert wb.workers()["worker"].tolist() == ["w1"]


def test_a_worker_that_does_not_confirm_is_named_and_the_change_stands(
    stack: SeededStack,
) -> None:
    settings = stack.settings.model_copy(update={"reload_timeout_s": 0.5})
    laggard = redis.Redis.from_url(settings.redis_url or "")
    report: dict[str, Any] = {"worker": "stuck", "revision": 0, "versions": {}}
    laggard.sadd(f"{settings.namespace}:workers", "stuck")
    laggard.set(f"{settings.namespace}:workers:stuck", orjson.dumps(report), px=30_000)
    try:
        with Workbench.connect(settings=settings) as wb:
            with pytest.raises(PublishNotConfirmed) as late:
                wb.publish(tuned().with_fields(rule_id="machine-late"))
            stored = wb.rule_versions("machine-late")
    finally:
        laggard.srem(f"{settings.namespace}:workers", "stuck")
        laggard.delete(f"{settings.namespace}:workers:stuck")
        laggard.close()

    assert late.value.laggards == ["stuck"]
    assert "machine-late@1 is stored" in str(late.value) and "504" in str(late.value)
    assert stored["version"].tolist() == [1]


def test_without_urls_it_starts_embedded_servers_and_says_when_the_schema_is_missing(
    tmp_path: Path,
) -> None:
    from eventpulse.domain.errors import StoreUnavailable

    with pytest.raises(StoreUnavailable, match="eventpulse db upgrade"):
        Workbench.connect(home=tmp_path / "home", settings=Settings(home=tmp_path / "home"))
