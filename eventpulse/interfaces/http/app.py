"""The API's composition root: the FastAPI app, its routers and the adapters they use."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

from eventpulse import __version__
from eventpulse.application.access import AccessControl
from eventpulse.application.backtest import RunBacktest
from eventpulse.application.ingest import IngestEvents, IngestLimits
from eventpulse.application.rules import ManageRules
from eventpulse.application.silences import ManageSilences
from eventpulse.application.stats import ReadStats
from eventpulse.infrastructure.jinja_messages import JinjaMessageTemplates
from eventpulse.infrastructure.postgres_anomalies import PostgresAnomalyReader
from eventpulse.infrastructure.postgres_api_keys import PostgresKeyReader
from eventpulse.infrastructure.postgres_events import PostgresEventReader
from eventpulse.infrastructure.postgres_history import PostgresEventHistory
from eventpulse.infrastructure.postgres_reads import load_json_like_the_writers
from eventpulse.infrastructure.postgres_rules import PostgresRuleRepository
from eventpulse.infrastructure.postgres_silences import PostgresSilenceRepository
from eventpulse.infrastructure.postgres_stats import PostgresStats
from eventpulse.infrastructure.redis_feed_history import RedisFeedHistory
from eventpulse.infrastructure.redis_live_anomalies import RedisLiveAnomalies
from eventpulse.infrastructure.redis_pipeline_state import RedisPipelineState
from eventpulse.infrastructure.redis_queue import RedisEventQueue
from eventpulse.infrastructure.redis_reload_announcer import RedisReloadAnnouncer
from eventpulse.infrastructure.report_files import FileReportStore, reports_root
from eventpulse.infrastructure.settings import Settings
from eventpulse.interfaces.http import (
    anomalies,
    backtest,
    errors,
    events,
    health,
    metrics,
    reports,
    rules,
    silences,
    stats,
    ws_anomalies,
)
from eventpulse.interfaces.http.deps import ApiServices, HttpLimits, LiveAnomalies
from eventpulse.interfaces.http.fast_ingest import IngestFastPath
from eventpulse.interfaces.http.readiness import pipeline_probes
from eventpulse.interfaces.http.request_observer import RequestObserver

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
        # FastAPI's OpenTelemetry layer looks up the global providers on every request
        # (~10 µs, measured on the ingestion fast path); metrics are Prometheus here.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    api = APIRouter(prefix=API_PREFIX)
    api.include_router(events.router)
    api.include_router(health.router)
    api.include_router(rules.router)
    api.include_router(backtest.router)
    api.include_router(anomalies.router)
    api.include_router(silences.router)
    api.include_router(ws_anomalies.router)
    api.include_router(stats.router)
    api.include_router(reports.router)
    app.include_router(api)
    app.include_router(metrics.router)
    errors.install(app)
    if fast_ingest:
        app.add_middleware(IngestFastPath, prefix=API_PREFIX)
    app.add_middleware(RequestObserver)  # added last: outermost, so it sees the fast path too
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
            configure=load_json_like_the_writers,
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

        pipeline = RedisPipelineState(
            redis, settings.namespace, settings.stream_key, settings.dead_letter_key
        )
        announcer = RedisReloadAnnouncer(redis, settings.namespace, settings.reload_timeout_s)
        templates = JinjaMessageTemplates()
        manage_rules = ManageRules(PostgresRuleRepository(pool), announcer, templates=templates)
        live_feed = RedisLiveAnomalies(redis, settings.namespace, queue_size=settings.ws_queue_size)
        live_reader = asyncio.create_task(live_feed.run(), name="live-anomalies")
        app.state.services = ApiServices(
            ingest=IngestEvents(queue, IngestLimits(settings.max_event_bytes)),
            events=PostgresEventReader(pool),
            limits=HttpLimits(settings.max_body_bytes, settings.max_batch_events),
            probes={
                "redis": redis_probe,
                "postgres": postgres_probe,
                **pipeline_probes(
                    pipeline,
                    requires_worker=settings.ready_requires_worker,
                    max_ingest_lag_s=settings.ready_max_ingest_lag_s,
                ),
            },
            rules=manage_rules,
            backtest=RunBacktest(PostgresEventHistory(pool), manage_rules, templates=templates),
            anomalies=PostgresAnomalyReader(pool),
            silences=ManageSilences(PostgresSilenceRepository(pool)),
            access=AccessControl(
                PostgresKeyReader(pool),
                ttl_s=settings.api_key_cache_s,
                allow_unauthenticated=settings.allow_unauthenticated,
            ),
            live=LiveAnomalies(
                live_feed,
                RedisFeedHistory(redis, settings.namespace),
                heartbeat_s=settings.ws_heartbeat_s,
                send_timeout_s=settings.ws_send_timeout_s,
            ),
            stats=ReadStats(PostgresStats(pool), pipeline),
            reports=FileReportStore(
                reports_root(settings.home), stale_after_s=settings.report_run_timeout_s * 2
            ),
        )
        try:
            yield
        finally:
            live_reader.cancel()
            await asyncio.gather(live_reader, return_exceptions=True)
            await queue.close()
            await pool.close()
            await redis.aclose()

    return lifespan
