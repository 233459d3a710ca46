"""Request ids, request metrics and `/metrics` of the API, over fakes (one process: the
metrics are this process's default registry)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from uuid import uuid4

import orjson
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from eventpulse.interfaces.logs import JsonFormatter
from tests.unit.api_client import serve

EVENT = {"event_type": "login", "source": "web", "payload": {"user": "ada"}}


def requests_counted(method: str, route: str, status: int) -> float:
    labels = {"method": method, "route": route, "status": str(status)}
    return REGISTRY.get_sample_value("eventpulse_http_requests_total", labels) or 0.0


def latencies_observed(method: str, route: str) -> float:
    labels = {"method": method, "route": route}
    return REGISTRY.get_sample_value("eventpulse_http_request_duration_seconds_count", labels) or 0


@pytest.mark.parametrize("fast_ingest", [True, False], ids=["fast-path", "fastapi-route"])
def test_each_answer_carries_a_new_request_id_unless_the_client_sent_one(fast_ingest: bool) -> None:
    with serve(fast_ingest=fast_ingest) as client:
        generated = client.post("/api/v1/events", json=EVENT)
        echoed = client.post("/api/v1/events", json=EVENT, headers={"X-Request-ID": "abc-123"})
        refused = client.get("/api/v1/health", headers={"X-Request-ID": "two words"})

    assert generated.status_code == echoed.status_code == 202
    assert len(generated.headers["x-request-id"]) == 32
    assert echoed.headers["x-request-id"] == "abc-123"
    assert refused.headers["x-request-id"] not in ("two words", "")


@pytest.mark.parametrize("fast_ingest", [True, False], ids=["fast-path", "fastapi-route"])
def test_ingestion_is_counted_by_route_and_status_on_either_front(fast_ingest: bool) -> None:
    before = requests_counted("POST", "/api/v1/events/batch", 202)
    rejected_before = requests_counted("POST", "/api/v1/events/batch", 400)
    timed_before = latencies_observed("POST", "/api/v1/events/batch")
    with serve(fast_ingest=fast_ingest) as client:
        for _ in range(3):
            assert client.post("/api/v1/events/batch", json=[EVENT]).status_code == 202
        assert client.post("/api/v1/events/batch", json=[]).status_code == 400

    assert requests_counted("POST", "/api/v1/events/batch", 202) == before + 3
    assert requests_counted("POST", "/api/v1/events/batch", 400) == rejected_before + 1
    assert latencies_observed("POST", "/api/v1/events/batch") == timed_before + 4


def test_a_route_with_a_parameter_is_counted_under_its_template_and_unknown_paths_together() -> (
    None
):
    template = "/api/v1/events/{event_id}"
    before = requests_counted("GET", template, 404)
    unmatched = requests_counted("GET", "<unmatched>", 404)
    with serve() as client:
        for _ in range(2):
            assert client.get(f"/api/v1/events/{uuid4()}").status_code == 404
        assert client.get(f"/no/such/{uuid4()}").status_code == 404

    assert requests_counted("GET", template, 404) == before + 2
    assert requests_counted("GET", "<unmatched>", 404) == unmatched + 1


def test_metrics_are_served_at_the_root_in_the_prometheus_text_format() -> None:
    with serve() as client:
        client.post("/api/v1/events", json=EVENT)
        response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    posted = [
        s
        for s in families["eventpulse_http_requests"].samples
        if s.labels.get("route") == "/api/v1/events" and s.name.endswith("_total")
    ]
    assert posted and posted[0].value >= 1
    assert families["eventpulse_http_request_duration_seconds"].type == "histogram"


@pytest.fixture
def json_lines() -> Iterator[list[str]]:
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect()
    handler.setFormatter(JsonFormatter("api"))
    logger = logging.getLogger("eventpulse")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield lines
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_log_lines_written_during_a_request_carry_its_request_id_and_the_event_id(
    json_lines: list[str],
) -> None:
    with serve() as client:
        response = client.post("/api/v1/events", json=EVENT, headers={"X-Request-ID": "req-7"})

    documents = [orjson.loads(line) for line in json_lines]
    accepted = [d for d in documents if d["message"] == "event accepted"]
    assert accepted == [
        {**accepted[0], "request_id": "req-7", "event_id": response.json()["event_id"]}
    ]
    handled = [d for d in documents if d["logger"] == "eventpulse.http"]
    assert handled and handled[0]["request_id"] == "req-7" and handled[0]["status"] == 202
