"""Connection trouble on a worker's own psycopg connection, handled the same way everywhere."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg

from eventpulse.domain.errors import StoreUnavailable


@contextmanager
def dropping_connection(close: Callable[[], None]) -> Iterator[None]:
    """On any psycopg error drop the connection (`close`), so the next call opens a fresh one;
    connection-level failures become `StoreUnavailable`, the rest propagate as they are."""
    try:
        yield
    except psycopg.Error as exc:
        close()
        if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
            raise StoreUnavailable(str(exc).strip() or type(exc).__name__) from exc
        raise
