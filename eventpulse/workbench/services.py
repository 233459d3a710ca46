"""The workbench's adapters and use cases, built as the API's composition root builds them:
one async PostgreSQL pool, one Redis client, `ManageRules` with the real reload announcer and
message templates, `RunBacktest` on the stored history, the anomaly reader."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

from eventpulse.application.backtest import RunBacktest
from eventpulse.application.rules import ManageRules
from eventpulse.infrastructure.jinja_messages import JinjaMessageTemplates
from eventpulse.infrastructure.postgres_anomalies import PostgresAnomalyReader
from eventpulse.infrastructure.postgres_history import PostgresEventHistory
from eventpulse.infrastructure.postgres_rules import PostgresRuleRepository
from eventpulse.infrastructure.redis_reload_announcer import RedisReloadAnnouncer
from eventpulse.infrastructure.settings import Settings


@dataclass
class Services:
    pool: AsyncConnectionPool[Any]
    redis: Redis
    rules: ManageRules
    backtests: RunBacktest
    anomalies: PostgresAnomalyReader


async def open_services(settings: Settings) -> Services:
    assert settings.database_url and settings.redis_url
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        settings.database_url,
        min_size=0,
        max_size=4,
        open=False,
        timeout=10,
        kwargs={"connect_timeout": 5, "options": "-c timezone=UTC"},
    )
    await pool.open(wait=False)
    redis = Redis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=5)
    templates = JinjaMessageTemplates()
    announcer = RedisReloadAnnouncer(redis, settings.namespace, settings.reload_timeout_s)
    rules = ManageRules(PostgresRuleRepository(pool), announcer, templates=templates)
    return Services(
        pool=pool,
        redis=redis,
        rules=rules,
        backtests=RunBacktest(PostgresEventHistory(pool), rules, templates=templates),
        anomalies=PostgresAnomalyReader(pool),
    )


async def close_services(services: Services) -> None:
    await services.pool.close()
    await services.redis.aclose()
