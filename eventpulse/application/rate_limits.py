"""Ingestion rate limits per API key: one token bucket per key, in this API process.

A key created with `--rate N` may send N events per second on average, in bursts of up to N
(at least 1). A request is admitted while the key's bucket holds at least one token, before its
body is read; once parsed it costs one token per event it holds (a batch may take the bucket
below zero, and the key then waits until it refills). So a limit holds on average even for
batches larger than the burst, and a refused request costs no parsing.

The buckets live in the memory of one API process: with R replicas behind a load balancer a
key can send up to R * N events per second in total.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from eventpulse.domain.access import ApiKey
from eventpulse.domain.errors import RateLimited


@dataclass(slots=True)
class _Bucket:
    rate: float
    tokens: float
    at: float

    def refill(self, now: float) -> None:
        capacity = max(self.rate, 1.0)
        self.tokens = min(capacity, self.tokens + (now - self.at) * self.rate)
        self.at = now


class RateLimits:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def admit(self, key: ApiKey) -> None:
        """Raise `RateLimited` (with the seconds to wait) while `key`'s bucket is empty."""
        bucket = self._bucket(key)
        if bucket is None:
            return
        bucket.refill(self._clock())
        if bucket.tokens < 1.0:
            wait = math.ceil((1.0 - bucket.tokens) / bucket.rate)
            raise RateLimited(
                f"API key {key.key_id} is limited to {key.rate_per_s:g} events/s", max(1, wait)
            )

    def charge(self, key: ApiKey, events: int) -> None:
        bucket = self._bucket(key)
        if bucket is not None:
            bucket.refill(self._clock())
            bucket.tokens -= events

    def _bucket(self, key: ApiKey) -> _Bucket | None:
        if key.rate_per_s is None:
            return None
        bucket = self._buckets.get(key.key_id)
        if bucket is None or bucket.rate != key.rate_per_s:
            capacity = max(key.rate_per_s, 1.0)
            bucket = self._buckets[key.key_id] = _Bucket(key.rate_per_s, capacity, self._clock())
        return bucket
