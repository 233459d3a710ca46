"""The silences API of a real API process on real PostgreSQL: create, read, list, delete, and
the rows the notifier reads (`matchers` jsonb exactly as `Silence.matchers()` builds it)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import httpx
import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.integration.conftest import Product

SILENCES = "/api/v1/silences"


@pytest.fixture
def api(product: Product) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=product.start_api(), timeout=30) as client:
        yield client


def stored_row(db: psycopg.Connection[Any], silence_id: str) -> tuple[Any, ...]:
    row = db.execute(
        "SELECT matchers, starts_at, ends_at, comment, created_by, deleted_at"
        " FROM silences WHERE silence_id = %s",
        (silence_id,),
    ).fetchone()
    assert row is not None
    return row


def test_a_created_silence_is_stored_as_the_notifier_reads_it(
    api: httpx.Client, db: psycopg.Connection[Any]
) -> None:
    body = {
        "matchers": {"rule_id": ["checkout"], "group": {"host": "web-1", "port": 443}},
        "duration": "2h",
        "comment": "deploy",
        "created_by": "ada",
    }

    response = api.post(SILENCES, json=body)

    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["location"] == f"{SILENCES}/{created['silence_id']}"
    assert api.get(response.headers["location"]).json() == created
    matchers, starts_at, ends_at, comment, created_by, deleted_at = stored_row(
        db, created["silence_id"]
    )
    assert matchers == {"rule_id": ["checkout"], "group": {"host": "web-1", "port": 443}}
    assert ends_at - starts_at == timedelta(hours=2)
    assert (comment, created_by, deleted_at) == ("deploy", "ada", None)
    assert datetime.fromisoformat(created["ends_at"]) == ends_at


def test_the_list_holds_active_and_future_ones_and_pages(
    api: httpx.Client, db: psycopg.Connection[Any]
) -> None:
    now = datetime.now(UTC)
    expired_id = str(uuid4())
    db.execute(
        "INSERT INTO silences (silence_id, matchers, starts_at, ends_at, created_at)"
        " VALUES (%s, %s, %s, %s, %s)",
        (expired_id, Jsonb({"severity": ["info"]}), now - timedelta(hours=2), now, now),
    )
    active = api.post(SILENCES, json={"matchers": {"severity": ["critical"]}, "duration": "1h"})
    future = api.post(
        SILENCES,
        json={
            "matchers": {"severity": ["warning"]},
            "starts_at": (now + timedelta(days=1)).isoformat(),
            "duration": "1h",
        },
    )
    ids = {active.json()["silence_id"], future.json()["silence_id"]}

    listed = api.get(SILENCES).json()
    first = api.get(SILENCES, params={"include_expired": "true", "limit": 2}).json()
    second = api.get(
        SILENCES, params={"include_expired": "true", "limit": 2, "cursor": first["next_cursor"]}
    ).json()

    assert {s["silence_id"] for s in listed["items"]} == ids
    assert listed["next_cursor"] is None
    assert first["items"][0]["silence_id"] == expired_id  # created first
    assert {s["silence_id"] for s in first["items"] + second["items"]} == ids | {expired_id}
    assert second["next_cursor"] is None


def test_delete_marks_the_row_and_hides_the_silence(
    api: httpx.Client, db: psycopg.Connection[Any]
) -> None:
    silence_id = api.post(
        SILENCES, json={"matchers": {"rule_id": ["checkout"]}, "duration": "1h"}
    ).json()["silence_id"]

    deleted = api.delete(f"{SILENCES}/{silence_id}")

    assert deleted.status_code == 204
    assert api.get(f"{SILENCES}/{silence_id}").status_code == 404
    assert api.delete(f"{SILENCES}/{silence_id}").status_code == 404
    assert api.get(SILENCES, params={"include_expired": "true"}).json()["items"] == []
    assert stored_row(db, silence_id)[-1] is not None


def test_bad_input_is_422_naming_the_field_and_stores_nothing(
    api: httpx.Client, db: psycopg.Connection[Any]
) -> None:
    response = api.post(
        SILENCES, json={"matchers": {"severity": ["loud"]}, "duration": "1h", "comment": "a\x00"}
    )
    unknown = api.get(f"{SILENCES}/{uuid4()}")

    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"matchers.severity[0]", "comment"}
    assert unknown.status_code == 404
    assert db.execute("SELECT count(*) FROM silences").fetchone() == (0,)
