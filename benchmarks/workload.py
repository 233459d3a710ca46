"""The events every benchmark sends or stores: realistic, deterministic, in the product's format.

Producer documents (what clients POST) carry an event type, a source, an RFC 3339 timestamp
and a ~150-byte payload. Stream entries are built with the product's own codec
(`event_codec.encode_event` / `join_events`), so the worker reads exactly what the API writes.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from eventpulse.application.event_codec import encode_event, join_events

_EVENT_TYPES = ["http_request", "login", "payment", "metric", "job_finished"]
_METHODS = ["GET", "GET", "GET", "POST", "PUT", "DELETE"]
_REGIONS = ["eu-west-1", "us-east-1", "ap-south-1"]
_PATHS = ["/api/v1/orders", "/api/v1/users", "/api/v1/cart", "/checkout", "/search"]
_START = datetime(2025, 1, 1, tzinfo=UTC)
_POOL = 4096  # distinct (type, source, payload) triples; events cycle through them


def _pool(rng: random.Random) -> list[tuple[str, str, dict[str, Any]]]:
    pool = []
    for _ in range(_POOL):
        payload = {
            "method": rng.choice(_METHODS),
            "path": f"{rng.choice(_PATHS)}/{rng.randrange(100_000)}",
            "status": rng.choice([200, 200, 200, 201, 404, 500]),
            "latency_ms": round(rng.lognormvariate(3, 0.8), 2),
            "bytes": rng.randrange(200, 60_000),
            "user_id": f"u-{rng.randrange(1_000_000):06d}",
            "region": rng.choice(_REGIONS),
            "trace": f"{rng.getrandbits(32):08x}",
        }
        pool.append((rng.choice(_EVENT_TYPES), f"web-{rng.randrange(40):02d}", payload))
    return pool


def _timestamps(count: int) -> list[datetime]:
    return [_START + timedelta(milliseconds=i * 7) for i in range(count)]


def producer_events(count: int, seed: int = 1) -> list[dict[str, Any]]:
    """Documents as a producer sends them (no event_id: the API assigns one)."""
    pool = _pool(random.Random(seed))
    return [
        {
            "event_type": pool[i % _POOL][0],
            "source": pool[i % _POOL][1],
            "timestamp": ts.isoformat(),
            "payload": pool[i % _POOL][2],
        }
        for i, ts in enumerate(_timestamps(count))
    ]


def payload_bytes(events: list[dict[str, Any]]) -> float:
    """Mean encoded payload size."""
    return sum(len(orjson.dumps(e["payload"])) for e in events) / max(1, len(events))


def wire_events(count: int, seed: int = 2) -> list[bytes]:
    """Encoded events exactly as the API puts them in the stream (ids and receive times set)."""
    rng = random.Random(seed)
    pool = _pool(rng)
    received = datetime(2025, 6, 1, tzinfo=UTC)
    return [
        encode_event(
            {
                "event_type": pool[i % _POOL][0],
                "source": pool[i % _POOL][1],
                "timestamp": ts,
                "payload": pool[i % _POOL][2],
                "event_id": uuid.UUID(int=rng.getrandbits(128), version=4),
                "received_at": received + timedelta(microseconds=i),
            }
        )
        for i, ts in enumerate(_timestamps(count))
    ]


def stream_entries(encoded: list[bytes], events_per_entry: int) -> list[bytes]:
    """Entry bodies (the `e` field) holding `events_per_entry` events each."""
    return [
        join_events(encoded[i : i + events_per_entry])
        for i in range(0, len(encoded), events_per_entry)
    ]
