"""A small read-through cache for values the API needs on every request (API keys).

- An answer is used for `ttl_s` after it was loaded, never longer while the store answers: a
  change in the store (a revoked key) takes effect within `ttl_s`.
- Busy entries are refreshed in the background once `refresh_after` of the TTL has passed, so
  steady traffic never waits for the store; only an expired entry is awaited.
- One load per key at a time: concurrent requests for the same key share it.
- `StoreUnavailable` while refreshing an expired entry keeps its last answer for another
  `ttl_s` (stale-if-error): the API keeps serving known keys while PostgreSQL is down, and only
  a key it has never seen gets the store's error.
- At most `max_entries` entries (unknown key ids are cached too): the oldest go first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from eventpulse.domain.errors import StoreUnavailable

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

log = logging.getLogger("eventpulse.access")


@dataclass(slots=True)
class _Entry(Generic[V]):
    value: V
    refresh_at: float
    expires_at: float


class RefreshingCache(Generic[K, V]):
    def __init__(
        self,
        load: Callable[[K], Awaitable[V]],
        *,
        ttl_s: float,
        clock: Callable[[], float],
        refresh_after: float = 0.8,
        max_entries: int = 10_000,
    ) -> None:
        self._load = load
        self._ttl_s = ttl_s
        self._refresh_s = ttl_s * refresh_after
        self._clock = clock
        self._max_entries = max_entries
        self._entries: dict[K, _Entry[V]] = {}
        self._loading: dict[K, asyncio.Task[V]] = {}

    async def get(self, key: K) -> V:
        entry = self._entries.get(key)
        now = self._clock()
        if entry is not None and now < entry.expires_at:
            if now >= entry.refresh_at and key not in self._loading:
                self._start_load(key).add_done_callback(_log_failure)
            return entry.value
        try:
            return await asyncio.shield(self._loading.get(key) or self._start_load(key))
        except StoreUnavailable as exc:
            if entry is None:
                raise
            log.warning("using the last known answer for %r: %s", key, exc)
            self._entries[key] = _Entry(entry.value, now + self._ttl_s, now + self._ttl_s)
            return entry.value

    def _start_load(self, key: K) -> asyncio.Task[V]:
        task = asyncio.ensure_future(self._load_and_keep(key))
        self._loading[key] = task
        task.add_done_callback(lambda _: self._loading.pop(key, None))
        task.add_done_callback(_retrieve)  # a waiter may have been cancelled: no stray warning
        return task

    async def _load_and_keep(self, key: K) -> V:
        value = await self._load(key)
        now = self._clock()
        self._entries.pop(key, None)  # re-inserted last: the dict's order is the load order
        self._entries[key] = _Entry(value, now + self._refresh_s, now + self._ttl_s)
        while len(self._entries) > self._max_entries:
            del self._entries[next(iter(self._entries))]
        return value


def _retrieve(task: asyncio.Task[object]) -> None:
    if not task.cancelled():
        task.exception()


def _log_failure(task: asyncio.Task[object]) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if isinstance(exc, StoreUnavailable):
        log.warning("background refresh failed: %s", exc)
    elif exc is not None:
        log.error("background refresh failed", exc_info=exc)
