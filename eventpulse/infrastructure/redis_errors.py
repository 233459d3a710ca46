"""Translate redis-py connection trouble into the domain's `StreamUnavailable`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from redis.exceptions import BusyLoadingError, ConnectionError, ReadOnlyError, TimeoutError

from eventpulse.domain.errors import StreamUnavailable

TRANSIENT = (ConnectionError, TimeoutError, BusyLoadingError, ReadOnlyError, OSError)


@contextmanager
def stream_errors(what: str) -> Iterator[None]:
    try:
        yield
    except TRANSIENT as exc:
        raise StreamUnavailable(f"{what}: {exc or type(exc).__name__}") from exc
