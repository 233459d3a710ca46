"""Prometheus metrics of every process, and the text the API serves at `GET /metrics`.

Several processes, one endpoint: prometheus_client's documented **multiprocess mode** (the
one its docs give for gunicorn-style deployments). Each process writes its metric values to
memory-mapped files in the directory named by `PROMETHEUS_MULTIPROC_DIR`; the API's
`/metrics` reads every file there (`MultiProcessCollector`) and sums counters and histograms
over processes, so one scrape covers the API, every worker and the notifier, and a counter
keeps the counts of a process that has exited. Values are counted where things happen (a
worker counts the events *it* stored), never copied between processes.

Rules of that mode, which the CLI keeps (`interfaces/metrics_dir.py`):
- the variable is set before this module (or any `prometheus_client` module) is imported:
  the value class is chosen at import;
- `eventpulse up` empties the directory at start, and calls `mark_process_dead` for a child
  that exited (the files of its `live*` gauges are removed; its counters stay);
- a gauge says how processes combine: `livemax` for the evaluation lag (only the worker that
  holds the evaluation lease reports one).

Without the variable (tests in one process, embedding) the metrics live in the default
registry of this process, and `/metrics` serves that.
"""

from __future__ import annotations

import os
from typing import Any, Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"

HTTP_REQUESTS: Final = Counter(
    "eventpulse_http_requests",
    "API requests by route template and status",
    ["method", "route", "status"],
)
HTTP_LATENCY: Final = Histogram(
    "eventpulse_http_request_duration_seconds",
    "API request latency, from the first byte received to the last byte sent",
    ["method", "route"],
)
BATCHES: Final = Counter("eventpulse_worker_batches", "Batches stored and acknowledged")
PERSISTED: Final = Counter("eventpulse_worker_events_persisted", "Events newly stored")
DUPLICATES: Final = Counter(
    "eventpulse_worker_duplicate_events", "Events already stored (re-deliveries, client retries)"
)
REDELIVERED: Final = Counter(
    "eventpulse_worker_redelivered_entries", "Stream entries delivered more than once"
)
DEAD_LETTERED: Final = Counter(
    "eventpulse_worker_dead_lettered", "Stream entries or events sent to the dead-letter stream"
)
INSERT_LATENCY: Final = Histogram(
    "eventpulse_worker_insert_duration_seconds",
    "Duration of one batch insert into PostgreSQL",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
EVALUATION_STEPS: Final = Counter("eventpulse_evaluation_steps", "Evaluation steps stored")
EVALUATED: Final = Counter("eventpulse_evaluation_events", "Events evaluated by the live engine")
ANOMALIES: Final = Counter("eventpulse_anomalies_stored", "Anomalies newly stored")
RULE_ERRORS: Final = Counter(
    "eventpulse_rule_errors", "Rule versions suspended because they raised", ["rule_id"]
)
RULE_SECONDS: Final = Counter(
    "eventpulse_rule_evaluation_seconds", "Time spent evaluating each rule", ["rule_id"]
)
EVALUATION_LAG: Final = Gauge(
    "eventpulse_evaluation_lag_seconds",
    "Stream time between the evaluation cursor and the persisted frontier",
    multiprocess_mode="livemax",
)
DELIVERIES: Final = Counter(
    "eventpulse_notifier_deliveries",
    "Notification deliveries by channel and outcome",
    ["channel", "outcome"],
)

REPORT_RUNS: Final = Counter(
    "eventpulse_report_runs",
    "Scheduled report runs by schedule and outcome (ok, failed; skipped: a fire time not run)",
    ["schedule", "outcome"],
)


class PrometheusMeter:
    """The metering ports of application/meters.py, on the metrics above."""

    def batch(
        self, *, inserted: int, duplicates: int, dead_lettered: int, redelivered: int
    ) -> None:
        BATCHES.inc()
        PERSISTED.inc(inserted)
        DUPLICATES.inc(duplicates)
        DEAD_LETTERED.inc(dead_lettered)
        REDELIVERED.inc(redelivered)

    def insert_seconds(self, seconds: float) -> None:
        INSERT_LATENCY.observe(seconds)

    def rule_seconds(self, rule_id: str, seconds: float) -> None:
        RULE_SECONDS.labels(rule_id).inc(seconds)

    def rule_error(self, rule_id: str) -> None:
        RULE_ERRORS.labels(rule_id).inc()

    def step(self, *, events: int, anomalies: int, lag_s: float) -> None:
        EVALUATION_STEPS.inc()
        EVALUATED.inc(events)
        ANOMALIES.inc(anomalies)
        EVALUATION_LAG.set(lag_s)

    def idle(self) -> None:
        EVALUATION_LAG.set(0)

    def delivery(self, channel: str, outcome: str, n: int) -> None:
        DELIVERIES.labels(channel, outcome).inc(n)


_REQUEST_CHILDREN: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    # `labels()` resolves the children on every call (several µs, on every request of the
    # ingestion hot path); the label sets are few (templates, methods, statuses): cache them.
    key = (method, route, status)
    children = _REQUEST_CHILDREN.get(key)
    if children is None:
        children = (
            HTTP_REQUESTS.labels(method, route, str(status)),
            HTTP_LATENCY.labels(method, route),
        )
        _REQUEST_CHILDREN[key] = children
    children[0].inc()
    children[1].observe(seconds)


def exposition() -> tuple[bytes, str]:
    """The metrics of every process (multiprocess mode) or of this one: body, content type.

    Reads one file per process and metric type: call it off the event loop.
    """
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()  # per scrape, as the multiprocess docs prescribe
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def mark_process_dead(pid: int) -> None:
    """Forget the `live*` gauges of a process that exited (multiprocess mode only)."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
