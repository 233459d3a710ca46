"""The API's composition root: the FastAPI app, its routers and the adapters they use."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

from eventpulse import __version__
from eventpulse.application.backtest import RunBacktest
from eventpulse.application.ingest import IngestEvents, IngestLimits
from eventpulse.application.rules import ManageRules, SilentAnnouncer
from eventpulse.infrastructure.postgres_events import PostgresEventReader
from eventpulse.infrastructure.postgres_history import PostgresEventHistory
from eventpulse.infrastructure.postgres_rules import PostgresRuleRepository
from eventpulse.infrastructure.redis_queue import RedisEventQueue
from eventpulse.infrastructure.settings import Settings
from eventpulse.interfaces.http import backtest, errors, events, health, rules
from eventpulse.interfaces.http.deps import ApiServices, HttpLimits
from eventpulse.interfaces.http.fast_ingest import IngestFastPath

API_PREFIX = "/api/v1"


def create_app(
    settings: Settings, services: ApiServices | None = None, *, fast_ingest: bool = True
) -> FastAPI:
    """The ASGI app. Without `services`, real adapters are built from `settings` at start-up.

    `fast_ingest=False` leaves ingestion to the FastAPI routes (tests compare both fronts).
    """
    lifespan = _static(services) if services is not None else _adapters(settings)
    app = FastAPI(
        title="EventPulse",
        version=__version__,
        summary="Reliability-first event ingestion and anomaly detection",
        lifespan=lifespan,
    )
    api = APIRouter(prefix=API_PREFIX)
    api.include_router(events.router)
    api.include_router(health.router)
    api.include_router(rules.router)
    api.include_router(backtest.router)
    app.include_router(api)
    errors.install(app)
    if fast_ingest:
        app.add_middleware(IngestFastPath, prefix=API_PREFIX)
    return app


def _static(services: ApiServices) -> Any:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.services = services
        yield

    return lifespan


def _adapters(settings: Settings) -> Any:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        assert settings.redis_url and settings.database_url, "URLs are resolved before start-up"
        redis = Redis.from_url(
            settings.redis_url,
            socket_connect_timeout=2,
            socket_timeout=5,
            health_check_interval=30,
        )
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            settings.database_url,
            min_size=0,
            max_size=4,
            open=False,
            timeout=5,
            kwargs={"connect_timeout": 5, "options": "-c timezone=UTC"},
        )
        await pool.open(wait=False)
        queue = RedisEventQueue(
            redis,
            settings.stream_key,
            max_entry_events=settings.max_entry_events,
            high_water=settings.stream_high_water,
        )

        async def redis_probe() -> None:
            await redis.ping()

        async def postgres_probe() -> None:
            async with pool.connection() as conn:
                await conn.execute("SELECT 1")

        manage_rules = ManageRules(PostgresRuleRepository(pool), SilentAnnouncer())
        app.state.services = ApiServices(
            ingest=IngestEvents(queue, IngestLimits(settings.max_event_bytes)),
            events=PostgresEventReader(pool),
            limits=HttpLimits(settings.max_body_bytes, settings.max_batch_events),
            probes={"redis": redis_probe, "postgres": postgres_probe},
            rules=manage_rules,
            backtest=RunBacktest(PostgresEventHistory(pool), manage_rules),
        )
        try:
            yield
        finally:
            await queue.close()
            await pool.close()
            await redis.aclose()

    return lifespan
