"""`GET /api/v1/stats` and the pipeline checks of `GET /api/v1/ready`, over fakes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest

from eventpulse.application.stats import (
    EventField,
    GroupState,
    PipelineState,
    ReadStats,
    StoredCounts,
    StreamState,
)
from eventpulse.interfaces.http.readiness import pipeline_probes
from tests.unit.api_client import healthy, serve
from tests.unit.fakes import T0

STORED = StoredCounts(
    events={"login": 30, "payment": 6},
    anomalies={("r-fail", "critical"): 2, ("r-fail", "warning"): 1, ("r-new", "info"): 4},
    deliveries={("slack", "sent"): 2, ("slack", "failed"): 3, ("mail", "sent"): 1},
    evaluation_cursor=(1714564800000, 3, 0),
    evaluation_lag=12,
)
PIPELINE = PipelineState(
    events=StreamState(40, 1, {"persisters": GroupState(2, 5, 7, 3.5)}),
    anomalies=StreamState(7, 0, {"notifiers": GroupState(1, 0, 0, 0.0)}),
    workers={"w1": 4, "w2": 4},
    ingest_lag_s=3.5,
)


@dataclass
class FakeStatsStore:
    asked: list[tuple[Any, ...]] = field(default_factory=list)

    async def counts(
        self, by: EventField, since: datetime, until: datetime, lag_cap: int
    ) -> StoredCounts:
        self.asked.append((by, since, until))
        return STORED


class FakePipeline:
    def __init__(self, workers: dict[str, int] | None = None, lag_s: float = 0.0) -> None:
        self.workers = workers or {}
        self.lag_s = lag_s

    async def state(self) -> PipelineState:
        return PIPELINE

    async def live_workers(self) -> dict[str, int]:
        return self.workers

    async def ingest_lag_s(self) -> float:
        return self.lag_s


def test_stats_report_the_window_counts_and_the_pipeline_state() -> None:
    store = FakeStatsStore()
    with serve(stats=ReadStats(store, FakePipeline(), clock=lambda: T0)) as client:
        response = client.get("/api/v1/stats", params={"window": "2h", "by": "source"})

    assert response.status_code == 200
    body = response.json()
    assert store.asked == [("source", T0 - timedelta(hours=2), T0)]
    assert body["window"]["seconds"] == 7200 and body["window"]["duration"] == "2h"
    assert body["events"] == {
        "by": "source",
        "counts": {"login": 30, "payment": 6},
        "total": 36,
        "rate_per_s": 36 / 7200,
    }
    assert body["anomalies"] == {
        "total": 7,
        "by_rule": {"r-fail": {"critical": 2, "warning": 1}, "r-new": {"info": 4}},
        "by_severity": {"critical": 2, "warning": 1, "info": 4},
    }
    assert body["notifications"] == {
        "total": 6,
        "by_channel": {"mail": {"sent": 1}, "slack": {"failed": 3, "sent": 2}},
    }
    assert body["streams"]["events"] == {
        "length": 40,
        "dead_letters": 1,
        "groups": {"persisters": {"consumers": 2, "pending": 5, "lag": 7, "oldest_age_s": 3.5}},
    }
    assert body["ingest_lag_s"] == 3.5
    assert body["workers"] == {"live": 2, "revisions": {"w1": 4, "w2": 4}}
    assert body["evaluation"] == {
        "cursor": [1714564800000, 3, 0],
        "lag_events": 12,
        "lag_capped": False,
    }


@pytest.mark.parametrize(
    ("params", "field"),
    [
        pytest.param({"window": "1 hour"}, "window", id="not-a-duration"),
        pytest.param({"window": "31d"}, "window", id="too-long"),
        pytest.param({"window": "0s"}, "window", id="zero"),
        pytest.param({"by": "payload"}, "by", id="unknown-field"),
    ],
)
def test_a_bad_stats_parameter_is_422_naming_it(params: dict[str, str], field: str) -> None:
    with serve(stats=ReadStats(FakeStatsStore(), FakePipeline())) as client:
        response = client.get("/api/v1/stats", params=params)

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_an_api_without_stats_answers_503() -> None:
    with serve() as client:
        response = client.get("/api/v1/stats")

    assert response.status_code == 503


def ready(pipeline: FakePipeline, *, requires_worker: bool = True) -> Any:
    probes = {"redis": healthy, "postgres": healthy}
    probes |= pipeline_probes(pipeline, requires_worker=requires_worker, max_ingest_lag_s=5)
    with serve(probes=probes) as client:
        return client.get("/api/v1/ready")


def test_ready_when_a_worker_is_alive_and_the_ingest_lag_is_under_the_limit() -> None:
    response = ready(FakePipeline({"w1": 1}, lag_s=4.9))

    assert response.status_code == 200
    assert response.json()["checks"] == {
        "redis": "ok",
        "postgres": "ok",
        "workers": "ok",
        "ingest_lag": "ok",
    }


def test_not_ready_without_a_live_worker_unless_none_is_required() -> None:
    required = ready(FakePipeline({}))
    optional = ready(FakePipeline({}), requires_worker=False)

    assert required.status_code == 503
    assert required.json()["checks"]["workers"] == "failed: no live worker (no heartbeat report)"
    assert optional.status_code == 200


def test_not_ready_while_an_accepted_event_waits_longer_than_the_limit() -> None:
    response = ready(FakePipeline({"w1": 1}, lag_s=12.25))

    assert response.status_code == 503
    assert response.json()["checks"]["ingest_lag"] == (
        "failed: the oldest accepted event has waited 12.2s to be stored (limit 5s)"
    )
