"""`POST /api/v1/rules/backtest` over fakes: stored and body rules, 422 paths, 404s."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from eventpulse.application.rules import ManageRules, SilentAnnouncer
from eventpulse.domain.engine import Evaluator
from eventpulse.domain.rules import parse_rule
from tests.unit.api_client import serve
from tests.unit.engine.support import event
from tests.unit.history_fakes import FakeHistory
from tests.unit.rule_fakes import FakeRuleRepository

URL = "/api/v1/rules/backtest"
SINCE, UNTIL = "2024-01-01T00:00:00Z", "2024-01-02T00:00:00+00:00"
RULE: dict[str, Any] = {
    "name": "hot",
    "type": "threshold",
    "agg": "avg",
    "field": "payload.value",
    "window": "1m",
    "op": "gt",
    "value": 50,
    "group_by": ["source"],
    "message": "hot",
}
EVENTS = [
    event(t, source, payload={"value": v})
    for t, source, v in [(0, "a", 60), (10, "b", 10), (30, "a", 70), (61, "b", 99), (130, "a", 1)]
]
PAIRS = [((1_700_000_000_000 + n, 0, 0), e) for n, e in enumerate(EVENTS)]


def rules_with(*documents: dict[str, Any]) -> ManageRules:
    rules = ManageRules(FakeRuleRepository(), SilentAnnouncer())

    async def store() -> None:
        await rules.create(documents[0] | {"rule_id": "hot"})
        for document in documents[1:]:
            await rules.replace("hot", document)

    asyncio.run(store())
    return rules


def fields_of(response: Any) -> list[str]:
    return [e["field"] for e in response.json()["errors"]]


def test_a_stored_rule_answers_its_anomalies_with_the_live_ids_and_a_summary() -> None:
    with serve(rules=rules_with(RULE), history=FakeHistory(PAIRS)) as client:
        response = client.post(URL, json={"rule_id": "hot", "since": SINCE, "until": UNTIL})

    assert response.status_code == 200, response.text
    body = response.json()
    expected = Evaluator("hot", 1, parse_rule(RULE)).feed(PAIRS)
    assert [a["anomaly_id"] for a in body["anomalies"]] == [a.anomaly_id for a in expected]
    assert len(expected) == 2  # [0, 60): a = 65; [60, 120): b = 99
    first = body["anomalies"][0]
    assert first == {
        "anomaly_id": expected[0].anomaly_id,
        "rule_id": "hot",
        "rule_version": 1,
        "severity": "warning",
        "group": {"source": "a"},
        "window_start": "2024-01-01T00:00:00+00:00",
        "window_end": "2024-01-01T00:01:00+00:00",
        "ts": "2024-01-01T00:01:00+00:00",
        "value": 65.0,
        "message": "hot",
        "details": first["details"],
        "created_at": None,
    }
    summary = body["summary"]
    assert summary["events_scanned"] == 5
    assert (summary["anomalies"], summary["groups"], summary["truncated"]) == (2, 2, False)
    assert summary["fires_per_day"] == {"mean": 2.0, "p95": 2, "max": 2}
    assert summary["first_event_ts"] == "2024-01-01T00:00:00+00:00"


def test_an_older_version_is_backtested_under_its_own_number() -> None:
    with serve(rules=rules_with(RULE, RULE | {"value": 90}), history=FakeHistory(PAIRS)) as client:
        old = client.post(
            URL, json={"rule_id": "hot", "version": 1, "since": SINCE, "until": UNTIL}
        )
        live = client.post(URL, json={"rule_id": "hot", "since": SINCE, "until": UNTIL})

    assert {a["rule_version"] for a in old.json()["anomalies"]} == {1}
    assert len(old.json()["anomalies"]) == 2
    assert [a["group"] for a in live.json()["anomalies"]] == [{"source": "b"}]
    assert live.json()["summary"]["rule_version"] == 2


def test_a_body_rule_is_version_0_of_backtest() -> None:
    with serve(history=FakeHistory(PAIRS)) as client:
        response = client.post(URL, json={"rule": RULE, "since": SINCE, "until": UNTIL})

    assert response.status_code == 200, response.text
    expected = Evaluator("backtest", 0, parse_rule(RULE)).feed(PAIRS)
    body = response.json()
    assert [a["anomaly_id"] for a in body["anomalies"]] == [a.anomaly_id for a in expected]
    assert {(a["rule_id"], a["rule_version"]) for a in body["anomalies"]} == {("backtest", 0)}


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"rule_id": "hot", "since": UNTIL, "until": SINCE}, ["until"]),
        ({"rule_id": "hot", "since": SINCE, "until": SINCE}, ["until"]),
        ({"rule_id": "hot", "since": "2024-01-01T00:00:00", "until": UNTIL}, ["since"]),
        ({"rule_id": "hot", "since": 1704067200, "until": UNTIL}, ["since"]),
        ({"rule_id": "hot", "until": UNTIL}, ["since"]),
        ({"rule_id": "hot", "version": 0, "since": SINCE, "until": UNTIL}, ["version"]),
        ({"rule_id": "hot", "version": "1", "since": SINCE, "until": UNTIL}, ["version"]),
        ({"since": SINCE, "until": UNTIL}, ["rule_id"]),
        ({"rule_id": "hot", "rule": RULE, "since": SINCE, "until": UNTIL}, ["rule_id"]),
        ({"rule": RULE, "version": 2, "since": SINCE, "until": UNTIL}, ["version"]),
        ({"rule_id": "hot", "since": SINCE, "until": UNTIL, "labels": "x"}, ["labels"]),
        ({"rule": RULE | {"op": "bigger"}, "since": SINCE, "until": UNTIL}, ["rule.op"]),
        (
            {"rule": RULE | {"filter": {"any": [{"field": "source", "op": "equals", "value": 1}]}}}
            | {"since": UNTIL, "until": SINCE},
            ["until", "rule.filter.any[0].op"],
        ),
        ({"rule": [], "since": SINCE, "until": UNTIL}, ["rule"]),
        ({"rule_id": "hot", "since": "0001-01-01T00:00:00+01:00", "until": UNTIL}, ["since"]),
        ({"rule_id": "hot", "since": SINCE, "until": "9999-12-31T23:59:59-01:00"}, ["until"]),
    ],
    ids=[
        "reversed",
        "empty-range",
        "naive",
        "epoch-seconds",
        "no-since",
        "version-0",
        "version-text",
        "no-rule",
        "both",
        "version-with-body",
        "unknown-field",
        "bad-rule",
        "bad-rule-and-range",
        "rule-not-object",
        "since-below-year-1-in-utc",
        "until-above-year-9999-in-utc",
    ],
)
def test_an_invalid_request_is_422_at_its_fields(body: dict[str, Any], fields: list[str]) -> None:
    with serve(rules=rules_with(RULE)) as client:
        response = client.post(URL, json=body)

    assert response.status_code == 422, response.text
    assert fields_of(response) == fields


def test_a_body_that_is_not_an_object_is_422() -> None:
    with serve() as client:
        response = client.post(URL, json=[1])

    assert response.status_code == 422
    assert fields_of(response) == ["body"]


@pytest.mark.parametrize(
    "query",
    [{"rule_id": "nope"}, {"rule_id": "nope", "version": 1}, {"rule_id": "hot", "version": 2}],
)
def test_an_unknown_rule_or_version_is_404(query: dict[str, Any]) -> None:
    with serve(rules=rules_with(RULE)) as client:
        response = client.post(URL, json=query | {"since": SINCE, "until": UNTIL})

    assert response.status_code == 404, response.text


def test_get_of_a_rule_named_backtest_is_still_the_rules_resource() -> None:
    with serve() as client:
        assert client.get("/api/v1/rules/backtest").status_code == 404
        assert (
            client.post(URL, content=b"{}", headers={"content-type": "text/plain"}).status_code
            == 415
        )
