"""The API's promises about the stream: 202 means durable, 503/429 when it cannot promise."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import redis
from redis.asyncio import Redis as AsyncRedis

from eventpulse.application.event_codec import encode_event
from eventpulse.infrastructure.embedded import EmbeddedRedis
from eventpulse.infrastructure.redis_queue import RedisEventQueue
from tests.conftest import Servers
from tests.integration.conftest import Product, stored_ids
from tests.support import wait_until

EVENT = {"event_type": "a", "source": "s", "payload": {"n": 1}}


def test_redis_down_gives_503_and_every_202_survives_a_redis_crash(
    product: Product, db: psycopg.Connection[Any], tmp_path: Path
) -> None:
    own_redis = EmbeddedRedis(tmp_path / "own-redis")
    url = own_redis.start()
    product.settings = product.settings.model_copy(update={"redis_url": url})
    api = product.start_api()
    accepted = [
        httpx.post(f"{api}/api/v1/events", json=EVENT).json()["event_id"] for _ in range(20)
    ]

    assert own_redis.process is not None
    own_redis.process.kill()  # SIGKILL: no shutdown, no final AOF rewrite
    own_redis.process.wait()
    response = httpx.post(f"{api}/api/v1/events", json=EVENT, timeout=15)
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) >= 1
    batch = httpx.post(f"{api}/api/v1/events/batch", json=[EVENT, EVENT], timeout=15)
    assert batch.status_code == 503

    restarted = EmbeddedRedis(tmp_path / "own-redis")
    restarted.start()  # same directory: the AOF is replayed
    try:
        wait_until(
            lambda: httpx.post(f"{api}/api/v1/events", json=EVENT, timeout=15).status_code == 202,
            what="the API to accept events again",
        )
        product.start_worker("w1")
        wait_until(lambda: set(accepted) <= set(stored_ids(db)), what="every accepted event")
    finally:
        product.stop_all()
        restarted.stop()


def test_above_the_high_water_mark_the_api_answers_429_until_the_worker_catches_up(
    product: Product, db: psycopg.Connection[Any], redis_client: redis.Redis
) -> None:
    api = product.start_api(stream_high_water=5)
    statuses = []
    with httpx.Client(base_url=api) as client:
        for _ in range(8):
            response = client.post("/api/v1/events", json=EVENT)
            statuses.append(response.status_code)
        assert response.headers["retry-after"] == "1"
        assert "high-water" in response.json()["detail"]
    assert statuses == [202] * 5 + [429] * 3
    assert redis_client.xlen(product.settings.stream_key) == 5

    product.start_worker("w1")
    wait_until(
        lambda: httpx.post(f"{api}/api/v1/events", json=EVENT).status_code == 202,
        what="the backlog to drain and the API to accept again",
    )
    wait_until(lambda: len(stored_ids(db)) == 6, what="the six accepted events")


def test_concurrent_appends_share_one_transaction_and_all_are_confirmed(
    servers: Servers, namespace: str, redis_client: redis.Redis
) -> None:
    key = f"{namespace}:events"

    async def append_many() -> None:
        client = AsyncRedis.from_url(servers.redis_url)
        queue = RedisEventQueue(client, key, max_entry_events=500, high_water=10_000)
        events = [
            encode_event({**EVENT, "event_id": uuid.uuid4(), "timestamp": None}) for _ in range(300)
        ]
        await asyncio.gather(*(queue.append([event]) for event in events))
        await queue.close()
        await client.aclose()

    asyncio.run(append_many())
    entries = redis_client.xrange(key)
    assert len(entries) <= 3  # 300 requests, a handful of round trips
    assert sum(len(orjson.loads(fields[b"e"])) for _, fields in entries) == 300
