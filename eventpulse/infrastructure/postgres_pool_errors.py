"""Connection trouble on a pooled async connection becomes the domain's `StoreUnavailable`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from psycopg_pool import PoolTimeout

from eventpulse.domain.errors import StoreUnavailable


@asynccontextmanager
async def store_errors() -> AsyncIterator[None]:
    try:
        yield
    except (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout, TimeoutError) as exc:
        raise StoreUnavailable(str(exc).strip() or type(exc).__name__) from exc
