"""The silences API over an in-memory repository: 422 naming fields, 404, resources, lists.
The API's clock is T0 (2024-05-01T12:00Z)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from eventpulse.application.silences import StoredSilence
from eventpulse.domain.silences import Silence
from tests.unit.api_client import serve
from tests.unit.fakes import T0
from tests.unit.silence_fakes import FakeSilenceRepository

SILENCES = "/api/v1/silences"


def silence(**fields: Any) -> dict[str, Any]:
    return {"matchers": {"rule_id": ["checkout"]}, "duration": "2h"} | fields


def fields_of(response: Any) -> list[str]:
    return [e["field"] for e in response.json()["errors"]]


def test_post_answers_201_with_the_resource_and_its_location() -> None:
    body = silence(
        matchers={"severity": ["critical"], "group": {"host": "web-1"}},
        starts_at="2024-05-01T14:00:00+02:00",
        ends_at="2024-05-01T13:30:00Z",
        comment="deploy",
        created_by="ada",
    )
    del body["duration"]
    with serve() as client:
        response = client.post(SILENCES, json=body)
        fetched = client.get(response.headers["location"])

    assert response.status_code == 201, response.text
    created = response.json()
    assert created == fetched.json()
    assert response.headers["location"] == f"{SILENCES}/{created['silence_id']}"
    assert created["matchers"] == {"severity": ["critical"], "group": {"host": "web-1"}}
    assert (created["starts_at"], created["ends_at"]) == (
        "2024-05-01T12:00:00+00:00",
        "2024-05-01T13:30:00+00:00",
    )
    assert (created["comment"], created["created_by"]) == ("deploy", "ada")
    assert created["created_at"] == "2024-05-01T12:00:00+00:00"


def test_a_duration_counts_from_now_when_starts_at_is_left_out() -> None:
    with serve() as client:
        created = client.post(SILENCES, json=silence()).json()

    assert (created["starts_at"], created["ends_at"]) == (
        "2024-05-01T12:00:00+00:00",
        "2024-05-01T14:00:00+00:00",
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(silence(matchers={}), ["matchers"], id="no-matcher"),
        pytest.param(silence(matchers={"host": ["a"]}), ["matchers.host"], id="unknown-matcher"),
        pytest.param(
            silence(matchers={"severity": ["critical", "fatal"]}),
            ["matchers.severity[1]"],
            id="bad-severity",
        ),
        pytest.param(silence(matchers={"rule_id": [""]}), ["matchers.rule_id"], id="empty-id"),
        pytest.param(silence(matchers={"group": ["a"]}), ["matchers.group"], id="group-list"),
        pytest.param(silence(duration="soon"), ["duration"], id="bad-duration"),
        pytest.param(silence(ends_at="2024-05-01T13:00:00Z"), ["ends_at"], id="end-and-duration"),
        pytest.param(
            {"matchers": {"rule_id": ["a"]}, "ends_at": "2024-05-01T11:00:00Z"},
            ["ends_at"],
            id="end-before-start",
        ),
        pytest.param(
            silence(starts_at="2024-04-01T00:00:00Z", duration="1h"),
            ["ends_at"],
            id="already-over",
        ),
        pytest.param(silence(starts_at="2024-05-01 noon"), ["starts_at"], id="bad-start"),
        pytest.param(silence(starts_at="2024-05-01T12:00:00"), ["starts_at"], id="no-offset"),
        pytest.param(silence(comment=7), ["comment"], id="comment-not-text"),
        pytest.param(silence(created_by="x" * 1001), ["created_by"], id="long-author"),
        pytest.param(silence(reason="deploy"), ["reason"], id="unknown-field"),
        pytest.param(silence(comment="a\x00b"), ["comment"], id="nul-in-comment"),
        pytest.param(
            silence(matchers={"group": {"host": "a\x00"}}), ["matchers.group.host"], id="nul-group"
        ),
    ],
)
def test_an_invalid_silence_is_422_naming_the_field(body: Any, expected: list[str]) -> None:
    with serve() as client:
        response = client.post(SILENCES, json=body)
        listed = client.get(f"{SILENCES}?include_expired=true").json()

    assert response.status_code == 422, response.text
    assert response.json()["detail"] == "invalid silence"
    assert fields_of(response) == expected
    assert listed["items"] == []


def test_every_field_at_fault_is_named_at_once() -> None:
    with serve() as client:
        response = client.post(SILENCES, json={"matchers": {"severity": ["loud"]}, "note": "x"})

    assert response.status_code == 422
    assert set(fields_of(response)) == {"note", "matchers.severity[0]", "ends_at"}


def test_a_body_that_is_not_an_object_is_422_at_body() -> None:
    with serve() as client:
        response = client.post(SILENCES, json=["rule_id"])

    assert response.status_code == 422
    assert fields_of(response) == ["body"]


@pytest.mark.parametrize("silence_id", ["8d3c1c1e-5a6f-4b8e-9a57-1c2d3e4f5a6b", "not-a-uuid"])
def test_an_unknown_silence_is_404_to_get_and_delete(silence_id: str) -> None:
    with serve() as client:
        got = client.get(f"{SILENCES}/{silence_id}")
        deleted = client.delete(f"{SILENCES}/{silence_id}")

    assert (got.status_code, deleted.status_code) == (404, 404)
    assert silence_id in got.json()["detail"]


def test_delete_answers_204_then_the_silence_is_gone_but_kept_as_a_row() -> None:
    repository = FakeSilenceRepository()
    with serve(silences=repository) as client:
        silence_id = client.post(SILENCES, json=silence()).json()["silence_id"]
        deleted = client.delete(f"{SILENCES}/{silence_id}")
        again = client.delete(f"{SILENCES}/{silence_id}")
        got = client.get(f"{SILENCES}/{silence_id}")
        listed = client.get(f"{SILENCES}?include_expired=true").json()

    assert (deleted.status_code, again.status_code, got.status_code) == (204, 404, 404)
    assert listed["items"] == []
    assert silence_id in repository.rows and silence_id in repository.deleted


def test_the_list_holds_active_and_future_silences_unless_expired_ones_are_asked_for() -> None:
    repository = FakeSilenceRepository()
    over = Silence(
        "0b8f6c1a-3f0e-4c1e-8a0e-3f2b1c4d5e6f",
        starts_at=T0 - timedelta(hours=2),
        ends_at=T0,
        rule_ids=("checkout",),
        comment="expired",
    )
    repository.rows[over.silence_id] = StoredSilence(over, T0 - timedelta(hours=3))
    with serve(silences=repository) as client:
        client.post(SILENCES, json=silence(comment="active"))
        client.post(SILENCES, json=silence(comment="future", starts_at="2024-05-02T00:00:00Z"))
        default = client.get(SILENCES).json()
        everything = client.get(f"{SILENCES}?include_expired=true").json()

    assert sorted(s["comment"] for s in default["items"]) == ["active", "future"]
    assert default["next_cursor"] is None
    assert everything["items"][0]["comment"] == "expired"  # the oldest created comes first
    assert sorted(s["comment"] for s in everything["items"]) == ["active", "expired", "future"]


def test_the_list_pages_with_next_cursor() -> None:
    with serve() as client:
        ids = [client.post(SILENCES, json=silence()).json()["silence_id"] for _ in range(3)]
        first = client.get(f"{SILENCES}?limit=2").json()
        second = client.get(f"{SILENCES}?limit=2&cursor={first['next_cursor']}").json()

    assert first["next_cursor"] is not None and second["next_cursor"] is None
    assert {s["silence_id"] for s in first["items"] + second["items"]} == set(ids)


@pytest.mark.parametrize(
    ("query", "field"),
    [("include_expired=perhaps", "include_expired"), ("limit=0", "limit"), ("cursor=zz", "cursor")],
)
def test_bad_list_parameters_are_422_naming_them(query: str, field: str) -> None:
    with serve() as client:
        response = client.get(f"{SILENCES}?{query}")

    assert response.status_code == 422
    assert fields_of(response) == [field]
