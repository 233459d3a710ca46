"""Events posted to the API end up in PostgreSQL exactly as accepted."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import psycopg

from tests.integration.conftest import Product, make_events, post_batches, stored_ids
from tests.support import wait_until


def test_an_accepted_event_is_stored_in_utc_and_readable_by_id(
    product: Product, db: psycopg.Connection[Any]
) -> None:
    api = product.start_api()
    product.start_worker("w1")
    sent = {
        "event_type": "login",
        "source": "web-1",
        "timestamp": "2024-05-01T12:30:00.250+02:00",
        "payload": {"user": "ann", "ok": True, "n": 3.5, "deep": {"list": [1, {"x": None}]}},
    }
    response = httpx.post(f"{api}/api/v1/events", json=sent)
    assert response.status_code == 202
    event_id = response.json()["event_id"]
    assert uuid.UUID(event_id)

    def fetched() -> dict[str, Any] | None:
        r = httpx.get(f"{api}/api/v1/events/{event_id}")
        return r.json() if r.status_code == 200 else None

    stored = wait_until(fetched, what="the event to be readable")
    assert stored["event_type"] == "login"
    assert stored["source"] == "web-1"
    assert stored["payload"] == sent["payload"]
    assert stored["timestamp"] == "2024-05-01T10:30:00.250000+00:00"
    assert httpx.get(f"{api}/api/v1/events/{uuid.uuid4()}").status_code == 404


def test_a_mixed_batch_stores_the_good_events_and_names_the_bad_fields(
    product: Product, db: psycopg.Connection[Any]
) -> None:
    api = product.start_api()
    product.start_worker("w1")
    batch = [
        {"event_type": "a", "source": "s", "payload": {"i": 0}},
        {"event_type": 7, "source": "s"},
        {"event_type": "a", "source": "s", "timestamp": "2024-01-01T00:00:00"},
        {"event_type": "a", "source": "s", "payload": {"i": 3}},
        {"event_type": "a", "source": "s", "payload": {"bad": "nul\u0000here"}},
        {"event_type": "a", "source": "s", "payload": {"i": 5}},
    ]
    response = httpx.post(f"{api}/api/v1/events/batch", json=batch)
    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 3
    assert {item["index"]: item["errors"][0]["field"] for item in body["rejected"]} == {
        1: "event_type",
        2: "timestamp",
        4: "payload",
    }
    wait_until(lambda: len(stored_ids(db)) == 3, what="three stored events")
    assert sorted(stored_ids(db)) == sorted(body["event_ids"])
    payloads = sorted(row[0]["i"] for row in db.execute("SELECT payload FROM events"))
    assert payloads == [0, 3, 5]


def test_the_same_event_sent_twice_is_stored_once(
    product: Product, db: psycopg.Connection[Any]
) -> None:
    api = product.start_api()
    product.start_worker("w1")
    event = {"event_id": str(uuid.uuid4()), "event_type": "a", "source": "s", "payload": {"n": 1}}
    for _ in range(2):
        assert httpx.post(f"{api}/api/v1/events", json=event).status_code == 202
    twice_in_one_batch = post_batches(api, [event, event])
    assert twice_in_one_batch == [event["event_id"]] * 2
    other = post_batches(api, make_events(50))
    wait_until(lambda: len(stored_ids(db)) == 51, what="51 stored events")
    assert sorted(stored_ids(db)) == sorted({event["event_id"], *other})


def test_stored_events_keep_the_order_in_which_the_stream_took_them(
    product: Product, db: psycopg.Connection[Any]
) -> None:
    api = product.start_api()
    product.start_worker("w1")
    sent = [post_batches(api, make_events(3, source=f"s{i}")) for i in range(4)]
    order = [event_id for batch in sent for event_id in batch]
    wait_until(lambda: len(stored_ids(db)) == len(order), what="every event")
    rows = db.execute(
        "SELECT event_id, arrival_ms, arrival_seq, arrival_idx FROM events"
        " ORDER BY arrival_ms, arrival_seq, arrival_idx"
    ).fetchall()
    assert [str(row[0]) for row in rows] == order
    assert all(row[1] > 0 for row in rows)
    assert [row[3] for row in rows[:3]] == [0, 1, 2]  # the positions inside one entry
