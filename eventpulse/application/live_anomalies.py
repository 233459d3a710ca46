"""The anomaly feed as live subscribers see it: entries, cursors, the ports that read the feed,
and each subscriber's bounded queue.

A cursor is the feed entry's id in the Redis Stream, `<ms>-<seq>`; cursors order entries as
they were appended. The live side is one subscription per API process whose entries are
offered to every subscriber's `LiveQueue`; offering never waits: a subscriber whose queue
is full is ended as too slow, so one slow client never slows the others.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from eventpulse.domain.errors import EventPulseError

Position = tuple[int, int]

ORIGIN: Final[Position] = (0, 0)
_CURSOR: Final = re.compile(r"(\d{1,20})(?:-(\d{1,20}))?")
_U64: Final = 2**64


def parse_cursor(text: str) -> Position | None:
    """The position of `<ms>-<seq>` (or `<ms>`, meaning `<ms>-0`); None if it is not one."""
    match = _CURSOR.fullmatch(text)
    if match is None:
        return None
    ms, seq = int(match[1]), int(match[2] or 0)
    return (ms, seq) if ms < _U64 and seq < _U64 else None


def format_cursor(position: Position) -> str:
    return f"{position[0]}-{position[1]}"


def successor(position: Position) -> Position:
    """The smallest position after `position` (XRANGE's start is inclusive)."""
    ms, seq = position
    return (ms, seq + 1) if seq + 1 < _U64 else (ms + 1, 0)


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One feed entry: its cursor, the anomaly document, and the message a client gets
    (`{"cursor": ..., "anomaly": ...}` as JSON, built once and sent to every subscriber)."""

    cursor: str
    position: Position
    anomaly: Mapping[str, Any]
    message: bytes


@dataclass(frozen=True, slots=True)
class FeedBounds:
    """What the feed holds now: its oldest kept entry (None when empty), the newest entry ever
    appended (`ORIGIN` when none), and the newest entry trimmed away when the store knows it
    (Redis 7+), else None."""

    first: Position | None
    last: Position
    max_deleted: Position | None


class ClientTooSlow(EventPulseError):
    """A subscriber fell too far behind the live feed (its queue is full, or a send stalled)."""


class FeedHistory(Protocol):
    """The feed's kept entries (Redis Stream `{ns}:anomalies`)."""

    async def bounds(self) -> FeedBounds: ...

    async def after(self, position: Position, count: int) -> list[FeedEntry]:
        """At most `count` entries strictly after `position`, oldest first."""
        ...


class LiveFeed(Protocol):
    """Live entries as they are appended (Pub/Sub `{ns}:anomalies:live`), one subscription per
    process. `subscribe` returns once the subscription is in place (an entry appended later is
    offered to the queue) or raises `StreamUnavailable`."""

    async def subscribe(self) -> LiveQueue: ...

    def unsubscribe(self, queue: LiveQueue) -> None: ...


class LiveQueue:
    """One subscriber's live entries: at most `bound` waiting. Once ended (too slow, or the
    feed's subscription was lost and entries may have been missed) it raises that error."""

    def __init__(self, bound: int) -> None:
        self._bound = bound
        self._entries: deque[FeedEntry] = deque()
        self._error: EventPulseError | None = None
        self._wake = asyncio.Event()
        self._ended = asyncio.Event()

    def __len__(self) -> int:
        return len(self._entries)

    def offer(self, entry: FeedEntry) -> None:
        if self._error is not None:
            return
        if len(self._entries) >= self._bound:
            self.end(ClientTooSlow(f"client too slow: more than {self._bound} messages queued"))
            return
        self._entries.append(entry)
        self._wake.set()

    def end(self, error: EventPulseError) -> None:
        if self._error is None:
            self._error = error
            self._entries.clear()
            self._wake.set()
            self._ended.set()

    async def ended(self) -> EventPulseError:
        """Wait until the queue is ended; why."""
        await self._ended.wait()
        assert self._error is not None
        return self._error

    def discard_through(self, position: Position) -> None:
        """Drop waiting entries up to `position` (already read from the feed's history)."""
        while self._entries and self._entries[0].position <= position:
            self._entries.popleft()

    async def get(self, wait_s: float) -> FeedEntry | None:
        """The next entry, or None after `wait_s` seconds without one."""
        if not self._entries and self._error is None:
            self._wake.clear()
            try:
                async with asyncio.timeout(wait_s):
                    await self._wake.wait()
            except TimeoutError:
                return None
        if self._error is not None:
            raise self._error
        return self._entries.popleft() if self._entries else None
