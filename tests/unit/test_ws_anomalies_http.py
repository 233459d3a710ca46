"""`WS /api/v1/ws/anomalies` over an in-memory feed: refusals with their close codes and
reasons, live messages, heartbeats, and the HTTP GET that documents the protocol."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.websockets import WebSocketDisconnect

from tests.support import wait_until
from tests.unit.api_client import serve
from tests.unit.feed_fakes import FakeFeed, anomaly

WS = "/api/v1/ws/anomalies"


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("severity=fatal", "severity: 'fatal' is not one of info, warning, critical"),
        ("since=yesterday", "since: expected a message's cursor"),
        ("rule=checkout", "rule: unknown parameter"),
    ],
)
def test_a_bad_parameter_closes_with_4422_and_a_reason_naming_it(query: str, reason: str) -> None:
    with (
        serve() as client,
        client.websocket_connect(f"{WS}?{query}") as ws,
        pytest.raises(WebSocketDisconnect) as closed,
    ):
        ws.receive_json()

    assert closed.value.code == 4422
    assert closed.value.reason.startswith(reason)


def test_an_unavailable_feed_closes_with_1013() -> None:
    feed = FakeFeed()
    feed.unavailable = True
    with (
        serve(feed=feed) as client,
        client.websocket_connect(WS) as ws,
        pytest.raises(WebSocketDisconnect) as closed,
    ):
        ws.receive_json()

    assert closed.value.code == 1013
    assert "anomaly feed unavailable" in closed.value.reason


def test_live_anomalies_arrive_filtered_with_their_cursor() -> None:
    feed = FakeFeed()
    with serve(feed=feed) as client, client.websocket_connect(f"{WS}?severity=critical") as ws:
        wait_until(lambda: feed.subscribers, timeout=5, what="the subscription")
        assert client.portal is not None
        client.portal.call(lambda: feed.append(anomaly("a1", severity="info"), anomaly("a2")))
        message: dict[str, Any] = ws.receive_json()

    assert message == {"cursor": "2-0", "anomaly": anomaly("a2")}
    assert feed.subscribers == []


def test_an_idle_connection_gets_heartbeats() -> None:
    with serve(heartbeat_s=0.05) as client, client.websocket_connect(WS) as ws:
        beats = [ws.receive_json(), ws.receive_json()]

    assert all(set(beat) == {"heartbeat"} for beat in beats)
    assert beats[0]["heartbeat"] < beats[1]["heartbeat"]


def test_a_plain_http_get_answers_426_and_the_protocol_is_in_openapi() -> None:
    with serve() as client:
        response = client.get(WS)
        description = client.get("/openapi.json").json()["paths"][WS]["get"]["description"]

    assert response.status_code == 426
    assert response.headers["upgrade"] == "websocket"
    assert "since" in description and "4408" in description and "heartbeat" in description
