"""The API's writer to the ingest stream: concurrent appends share one Redis round trip.

Every request awaits its own future, and the future resolves only after the MULTI/EXEC that
holds its events returned, so a 202 still means "Redis confirmed the XADD" (invariant 1). While
one transaction is in flight, new requests queue up and go out together in the next one: under
load, hundreds of requests cost one round trip instead of hundreds; when idle, a request is
written at once (no timer, no added latency). Events are grouped into entries of at most
`max_entry_events`; a request's events may span entries but always share one transaction.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from redis.asyncio import Redis
from redis.exceptions import RedisError

from eventpulse.application.event_codec import ENTRY_FIELD, join_events
from eventpulse.domain.errors import StreamBackpressure, StreamUnavailable

_LENGTH_MAX_AGE_S = 0.5
_MAX_TRANSACTION_BYTES = 8 * 1024 * 1024

Waiting = list[tuple[Sequence[bytes], "asyncio.Future[None]"]]


def _settle(batch: Waiting, error: BaseException | None) -> None:
    for _, future in batch:
        if future.done():  # the request was cancelled (client went away)
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)


class RedisEventQueue:
    def __init__(
        self,
        client: Redis,
        stream_key: str,
        *,
        max_entry_events: int,
        high_water: int,
    ) -> None:
        self._client = client
        self._key = stream_key
        self._max_entry_events = max_entry_events
        self._high_water = high_water
        self._waiting: list[tuple[Sequence[bytes], asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._length = 0
        self._length_at = 0.0

    async def append(self, encoded_events: Sequence[bytes]) -> None:
        await self._check_backpressure()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((encoded_events, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await future

    async def close(self) -> None:
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)

    async def _check_backpressure(self) -> None:
        if self._length < self._high_water:
            return
        if time.monotonic() - self._length_at > _LENGTH_MAX_AGE_S:
            try:
                self._remember_length(await self._client.xlen(self._key))
            except (RedisError, OSError) as exc:
                raise StreamUnavailable(f"ingest stream unreachable: {exc}") from exc
        if self._length >= self._high_water:
            raise StreamBackpressure(
                f"ingest stream holds {self._length} entries (high-water mark {self._high_water})"
            )

    async def _flush(self) -> None:
        while self._waiting:
            batch = self._take()
            try:
                async with self._client.pipeline(transaction=True) as pipe:
                    for body in self._entries(batch):
                        pipe.xadd(self._key, {ENTRY_FIELD: body})
                    pipe.xlen(self._key)
                    results = await pipe.execute()
            except (RedisError, OSError) as exc:
                _settle(batch, StreamUnavailable(f"ingest stream did not confirm the write: {exc}"))
                continue
            except BaseException:  # cancelled at shutdown: no request may wait forever
                _settle(batch, StreamUnavailable("the API is shutting down"))
                raise
            self._remember_length(results[-1])
            _settle(batch, None)

    def _take(self) -> list[tuple[Sequence[bytes], asyncio.Future[None]]]:
        """Waiting requests for one transaction, up to `_MAX_TRANSACTION_BYTES` (at least one):
        a bounded MULTI keeps Redis responsive to other clients and within our socket timeout."""
        taken, size = 0, 0
        for encoded, _ in self._waiting:
            size += sum(len(event) for event in encoded)
            if taken and size > _MAX_TRANSACTION_BYTES:
                break
            taken += 1
        batch, self._waiting = self._waiting[:taken], self._waiting[taken:]
        return batch

    def _entries(self, batch: list[tuple[Sequence[bytes], asyncio.Future[None]]]) -> list[bytes]:
        bodies: list[bytes] = []
        chunk: list[bytes] = []
        for encoded, _ in batch:
            for event in encoded:
                chunk.append(event)
                if len(chunk) == self._max_entry_events:
                    bodies.append(join_events(chunk))
                    chunk = []
        if chunk:
            bodies.append(join_events(chunk))
        return bodies

    def _remember_length(self, length: int) -> None:
        self._length = int(length)
        self._length_at = time.monotonic()
