"""An in-memory EventHistory: stored events, replayed in arrival order, chunk by chunk."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterable, Sequence
from datetime import datetime

from eventpulse.domain.engine import Arrival
from eventpulse.domain.events import Event


class FakeHistory:
    """Events with their arrival keys, as the `events` table holds them."""

    def __init__(self, events: Iterable[tuple[Arrival, Event]] = ()) -> None:
        self.events = list(events)
        self.chunk_sizes: list[int] = []
        self.closed = 0

    async def chunks(
        self, since: datetime, until: datetime, size: int
    ) -> AsyncGenerator[Sequence[tuple[Arrival, Event]], None]:
        in_range = [pair for pair in self.events if since <= pair[1].ts < until]
        in_range.sort(key=lambda pair: (pair[0], pair[1].event_id))
        try:
            for start in range(0, len(in_range), size):
                chunk = in_range[start : start + size]
                self.chunk_sizes.append(len(chunk))
                yield chunk
        finally:
            self.closed += 1
