"""The worker's stream adapter against a real Redis: trimming, pending, claiming, dead letters."""

from __future__ import annotations

import redis

from eventpulse.infrastructure.redis_stream import GROUP, RedisIngestStream, ensure_group


def _stream(
    client: redis.Redis, ns: str, consumer: str, claim_idle_ms: int = 0
) -> RedisIngestStream:
    stream = RedisIngestStream(
        client, f"{ns}:events", f"{ns}:events:dead", consumer, claim_idle_ms=claim_idle_ms
    )
    stream.ensure_group()
    return stream


def _fill(client: redis.Redis, key: str, n: int) -> list[str]:
    return [client.xadd(key, {b"e": f"[{i}]".encode()}).decode() for i in range(n)]


def test_trimming_keeps_every_entry_some_group_has_not_acknowledged(
    redis_client: redis.Redis, namespace: str
) -> None:
    key = f"{namespace}:events"
    ids = _fill(redis_client, key, 10)  # written before any group existed
    stream = _stream(redis_client, namespace, "a")
    read = stream.read_new(6, 100)
    assert [e.entry_id for e in read] == ids[:6]  # the group starts at 0: nothing missed
    stream.ack(ids[:3])

    stream.trim_acknowledged()
    assert [i.decode() for i, _ in redis_client.xrange(key)] == ids[3:]

    ensure_group(redis_client, key, "late-group")  # another group that has read nothing
    _fill(redis_client, key, 1)
    stream.ack(ids[3:6])
    assert stream.trim_acknowledged() == 0
    assert redis_client.xlen(key) == 8


def test_a_fully_acknowledged_stream_is_trimmed_to_its_last_delivered_entry(
    redis_client: redis.Redis, namespace: str
) -> None:
    key = f"{namespace}:events"
    ids = _fill(redis_client, key, 5)
    stream = _stream(redis_client, namespace, "a")
    stream.ack([e.entry_id for e in stream.read_new(10, 100)])
    stream.trim_acknowledged()
    assert [i.decode() for i, _ in redis_client.xrange(key)] == ids[-1:]


def test_own_pending_entries_come_back_with_their_delivery_count(
    redis_client: redis.Redis, namespace: str
) -> None:
    key = f"{namespace}:events"
    ids = _fill(redis_client, key, 3)
    first_life = _stream(redis_client, namespace, "w1")
    first_life.read_new(10, 100)
    second_life = _stream(redis_client, namespace, "w1")  # same name after a crash
    pending = second_life.read_own_pending(10)
    assert [(e.entry_id, e.data, e.deliveries) for e in pending] == [
        (ids[0], b"[0]", 2), (ids[1], b"[1]", 2), (ids[2], b"[2]", 2),
    ]  # fmt: skip


def test_idle_entries_of_another_consumer_are_claimed(
    redis_client: redis.Redis, namespace: str
) -> None:
    key = f"{namespace}:events"
    ids = _fill(redis_client, key, 2)
    _stream(redis_client, namespace, "dead").read_new(10, 100)
    survivor = _stream(redis_client, namespace, "alive", claim_idle_ms=0)
    claimed = survivor.claim_abandoned(10)
    assert [(e.entry_id, e.deliveries) for e in claimed] == [(ids[0], 2), (ids[1], 2)]
    owners = {p["consumer"] for p in redis_client.xpending_range(key, GROUP, "-", "+", 10)}
    assert owners == {b"alive"}


def test_a_dead_letter_keeps_the_entry_its_data_and_the_error(
    redis_client: redis.Redis, namespace: str
) -> None:
    stream = _stream(redis_client, namespace, "w1")
    stream.dead_letter("1-0", b"{bad", "entry is not valid JSON", 3)
    [(_, fields)] = redis_client.xrange(f"{namespace}:events:dead")
    assert fields[b"entry_id"] == b"1-0"
    assert fields[b"data"] == b"{bad"
    assert fields[b"error"] == b"entry is not valid JSON"
    assert fields[b"deliveries"] == b"3"
    assert fields[b"consumer"] == b"w1"
