"""Poison entries go to the dead-letter stream with their error; the rest proceeds."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import psycopg
import pytest
import redis

from eventpulse.infrastructure.redis_stream import GROUP, ensure_group
from tests.integration.conftest import Product, stored_ids
from tests.support import wait_until


def _event(**overrides: Any) -> dict[str, Any]:
    event = {
        "event_id": str(uuid.uuid4()),
        "event_type": "cpu",
        "source": "h",
        "timestamp": "2024-01-01T00:00:00Z",
        "received_at": "2024-01-01T00:00:01Z",
        "payload": {"v": 1},
    }
    event.update(overrides)
    return event


def _dead_letters(client: redis.Redis, key: str) -> list[dict[bytes, bytes]]:
    return [fields for _, fields in client.xrange(key)]


POISON = {
    "not-json": {b"e": b"{not json"},
    "not-an-array": {b"e": orjson.dumps({"event_type": "x"})},
    "no-data-field": {b"other": b"1"},
    "nul-in-payload": {b"e": orjson.dumps([_event(payload={"k": "a\u0000b"})])},
    "missing-source": {b"e": orjson.dumps([{k: v for k, v in _event().items() if k != "source"}])},
    "naive-timestamp": {b"e": orjson.dumps([_event(timestamp="2024-01-01T00:00:00")])},
}


@pytest.mark.parametrize("poison", list(POISON), ids=list(POISON))
def test_a_poison_entry_is_dead_lettered_and_its_neighbours_are_stored(
    product: Product, db: psycopg.Connection[Any], redis_client: redis.Redis, poison: str
) -> None:
    key = product.settings.stream_key
    good_before, good_after, good_beside = _event(), _event(), _event()
    redis_client.xadd(key, {b"e": orjson.dumps([good_before])})
    fields = POISON[poison]
    if poison in ("nul-in-payload", "missing-source", "naive-timestamp"):
        # The bad event shares its entry with a good one: only the bad one is dead-lettered.
        items = orjson.loads(fields[b"e"])
        fields = {b"e": orjson.dumps([*items, good_beside])}
    else:
        redis_client.xadd(key, {b"e": orjson.dumps([good_beside])})
    redis_client.xadd(key, fields)
    redis_client.xadd(key, {b"e": orjson.dumps([good_after])})
    product.start_worker("w1")

    expected = {good_before["event_id"], good_after["event_id"], good_beside["event_id"]}
    wait_until(lambda: set(stored_ids(db)) == expected, what="the good events")
    dead_key = product.settings.dead_letter_key
    letters = wait_until(lambda: _dead_letters(redis_client, dead_key), what="a dead letter")
    assert len(letters) == 1
    assert letters[0][b"error"]
    wait_until(lambda: redis_client.xpending(key, GROUP)["pending"] == 0, what="all acked")


def test_an_entry_delivered_too_often_is_dead_lettered_without_being_stored(
    product: Product, db: psycopg.Connection[Any], redis_client: redis.Redis
) -> None:
    """An entry that keeps killing its workers (simulated by re-claiming it) stops at N."""
    key = product.settings.stream_key
    ensure_group(redis_client, key)
    killer = _event()
    entry_id = redis_client.xadd(key, {b"e": orjson.dumps([killer])})
    redis_client.xreadgroup(GROUP, "crashed", {key: ">"}, count=1)
    for _ in range(product.settings.worker_max_deliveries):
        redis_client.xclaim(key, GROUP, "crashed", 0, [entry_id])
    innocent = _event()
    redis_client.xadd(key, {b"e": orjson.dumps([innocent])})
    product.start_worker("w1")

    wait_until(lambda: stored_ids(db) == [innocent["event_id"]], what="the innocent event")
    letters = wait_until(
        lambda: _dead_letters(redis_client, product.settings.dead_letter_key),
        what="the dead letter",
    )
    assert b"delivered" in letters[0][b"error"]
    assert letters[0][b"entry_id"] == entry_id
    wait_until(lambda: redis_client.xpending(key, GROUP)["pending"] == 0, what="all acked")
    assert killer["event_id"] not in stored_ids(db)
