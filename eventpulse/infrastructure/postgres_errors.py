"""A worker's own psycopg connections: opened lazily, dropped and reopened after trouble."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import tuple_row

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


Connection = psycopg.Connection[tuple[Any, ...]]


class OwnConnection:
    """One lazily opened autocommit connection, used by one thread (the worker's adapters).

    `get()` opens it when there is none (or it was closed); `close()` drops it, so the next
    `get()` reconnects. `configure` adjusts a new connection (JSON adapters, isolation).
    """

    def __init__(
        self,
        dsn: str,
        *,
        connect_timeout: int = 5,
        application_name: str = "eventpulse",
        configure: Callable[[Connection], None] | None = None,
    ) -> None:
        self._dsn = dsn
        self._connect_timeout = connect_timeout
        self._application_name = application_name
        self._configure = configure
        self._conn: Connection | None = None

    @property
    def is_open(self) -> bool:
        return self._conn is not None and not self._conn.closed

    def get(self) -> Connection:
        if self._conn is None or self._conn.closed:
            conn = psycopg.connect(
                self._dsn,
                connect_timeout=self._connect_timeout,
                row_factory=tuple_row,
                autocommit=True,
                options="-c timezone=UTC",
                application_name=self._application_name,
            )
            if self._configure is not None:
                self._configure(conn)
            self._conn = conn
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None
