"""GET /api/v1/events and /api/v1/anomalies over fake readers: documents, filters, cursors and
422s that name the parameter at fault."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from eventpulse.domain.events import Event
from tests.unit.api_client import TestClient, serve
from tests.unit.fakes import T0, FakeReader, stored_event
from tests.unit.query_fakes import FakeAnomalyReader, stored_anomaly

EVENTS = "/api/v1/events"
ANOMALIES = "/api/v1/anomalies"


def every_page(client: TestClient, path: str, **params: Any) -> tuple[list[Any], int]:
    """All items of a list, following `next_cursor`; and how many pages it took."""
    items: list[Any] = []
    pages = 0
    cursor = None
    while True:
        response = client.get(path, params={**params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return items, pages


def minutes(n: int) -> datetime:
    return T0 + timedelta(minutes=n)


def test_listed_events_are_the_documents_get_by_id_returns_in_time_order() -> None:
    later = stored_event(ts=minutes(5), payload={"n": 2})
    earlier = stored_event(ts=minutes(1), payload={"n": 1})
    with serve(reader=FakeReader(later, earlier)) as client:
        body = client.get(EVENTS).json()
        by_id = [client.get(f"{EVENTS}/{e.event_id}").json() for e in (earlier, later)]

    assert body == {"items": by_id, "next_cursor": None}


def test_the_cursor_walks_every_event_once_page_by_page() -> None:
    events = [stored_event(ts=minutes(i // 4)) for i in range(11)]
    with serve(reader=FakeReader(*events)) as client:
        items, pages = every_page(client, EVENTS, limit=4)

    expected = sorted(events, key=lambda e: (e.ts, e.event_id))
    assert [item["event_id"] for item in items] == [str(e.event_id) for e in expected]
    assert pages == 3


def test_event_filters_combine_and_the_range_includes_since_but_not_until() -> None:
    def ev(minute: int, event_type: str = "login", source: str = "web") -> Event:
        return stored_event(ts=minutes(minute), event_type=event_type, source=source)

    wanted = [ev(0), ev(9)]
    others = [ev(10), ev(-1), ev(5, event_type="logout"), ev(5, source="mobile")]
    params = {
        "event_type": "login",
        "source": "web",
        "since": "2024-05-01T14:00:00+02:00",  # T0 in another offset
        "until": minutes(10).isoformat(),
    }
    with serve(reader=FakeReader(*others, *wanted)) as client:
        items = client.get(EVENTS, params=params).json()["items"]

    assert [item["event_id"] for item in items] == [str(e.event_id) for e in wanted]


def test_anomalies_are_listed_filtered_and_read_by_id_as_anomaly_documents() -> None:
    critical = stored_anomaly(anomaly_id="c" * 32, severity="critical", ts=minutes(2))
    warning = stored_anomaly(anomaly_id="d" * 32, rule_id="other", ts=minutes(1))
    with serve(anomalies=FakeAnomalyReader(critical, warning)) as client:
        listed = client.get(ANOMALIES).json()["items"]
        filtered = client.get(ANOMALIES, params={"severity": "critical"}).json()["items"]
        by_rule = client.get(ANOMALIES, params={"rule_id": "other"}).json()["items"]
        one = client.get(f"{ANOMALIES}/{'c' * 32}").json()

    assert [a["anomaly_id"] for a in listed] == ["d" * 32, "c" * 32]
    assert filtered == [one]
    assert [a["anomaly_id"] for a in by_rule] == ["d" * 32]
    assert set(one) == {
        "anomaly_id", "rule_id", "rule_version", "severity", "group", "window_start",
        "window_end", "ts", "value", "message", "details", "created_at",
    }  # fmt: skip
    assert one["group"] == {"source": "web"}
    assert datetime.fromisoformat(one["created_at"]) == datetime(2024, 5, 1, 13, tzinfo=UTC)


def test_the_anomaly_cursor_walks_every_anomaly_once() -> None:
    stored = [stored_anomaly(anomaly_id=f"{i:032x}", ts=minutes(i % 3)) for i in range(7)]
    with serve(anomalies=FakeAnomalyReader(*stored)) as client:
        items, pages = every_page(client, ANOMALIES, limit=2)

    expected = sorted(stored, key=lambda s: (s.anomaly.ts, s.anomaly.anomaly_id))
    assert [a["anomaly_id"] for a in items] == [s.anomaly.anomaly_id for s in expected]
    assert pages == 4


@pytest.mark.parametrize(
    ("path", "id_"),
    [
        (ANOMALIES, "f" * 32),
        (ANOMALIES, "nul%00"),
        (EVENTS, "0" * 8 + "-0000-4000-8000-" + "0" * 12),
    ],
    ids=["unknown-anomaly", "impossible-anomaly-id", "unknown-event"],
)
def test_an_unknown_id_is_404(path: str, id_: str) -> None:
    with serve() as client:
        response = client.get(f"{path}/{id_}")

    assert response.status_code == 404
    assert response.json()["detail"].startswith("no ")


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        (EVENTS, {"limit": "0"}, "limit"),
        (EVENTS, {"limit": "1001"}, "limit"),
        (EVENTS, {"limit": "ten"}, "limit"),
        (EVENTS, {"cursor": "garbage"}, "cursor"),
        (EVENTS, {"since": "yesterday"}, "since"),
        (EVENTS, {"since": "1714564800"}, "since"),
        (EVENTS, {"until": "2024-05-01T12:00:00"}, "until"),
        (EVENTS, {"since": "2024-05-01T12:00:00Z", "until": "2024-05-01T11:00:00Z"}, "until"),
        (EVENTS, {"event_type": ""}, "event_type"),
        (EVENTS, {"source": "a\x00b"}, "source"),
        (ANOMALIES, {"severity": "fatal"}, "severity"),
        (ANOMALIES, {"rule_id": "x" * 256}, "rule_id"),
        (ANOMALIES, {"cursor": "garbage"}, "cursor"),
        (ANOMALIES, {"limit": "5000"}, "limit"),
    ],
    ids=[
        "limit-zero",
        "limit-above-max",
        "limit-not-a-number",
        "cursor-garbage",
        "since-not-a-time",
        "since-unix-seconds",
        "until-without-offset",
        "until-before-since",
        "empty-event-type",
        "nul-in-source",
        "unknown-severity",
        "rule-id-too-long",
        "anomaly-cursor-garbage",
        "anomaly-limit-above-max",
    ],
)
def test_a_bad_parameter_is_422_naming_it(path: str, params: dict[str, str], field: str) -> None:
    with serve() as client:
        response = client.get(path, params=params)

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_one_lists_cursor_is_422_on_the_other_list() -> None:
    events = FakeReader(stored_event(), stored_event())
    with serve(reader=events, anomalies=FakeAnomalyReader()) as client:
        cursor = client.get(EVENTS, params={"limit": 1}).json()["next_cursor"]
        response = client.get(ANOMALIES, params={"cursor": cursor})

    assert cursor is not None
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["cursor"]


def test_the_openapi_document_describes_both_lists() -> None:
    with serve() as client:
        paths = client.get("/openapi.json").json()["paths"]

    assert {"/api/v1/events", "/api/v1/anomalies", "/api/v1/anomalies/{anomaly_id}"} <= set(paths)
    names = {p["name"] for p in paths["/api/v1/anomalies"]["get"]["parameters"]}
    assert names == {"rule_id", "severity", "since", "until", "limit", "cursor"}
