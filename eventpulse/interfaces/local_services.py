"""Resolve where PostgreSQL and Redis are: the configured URLs, or embedded local servers."""

from __future__ import annotations

import logging
from contextlib import ExitStack

from eventpulse.infrastructure.embedded import EmbeddedPostgres, EmbeddedRedis
from eventpulse.infrastructure.settings import Settings

log = logging.getLogger("eventpulse.local")


def with_servers(settings: Settings, stack: ExitStack) -> Settings:
    """Settings whose URLs point at real servers, starting embedded ones for unset URLs.

    Servers this call started are stopped when `stack` closes; servers found already running
    (started by `eventpulse up` or an earlier run) are reused and left alone.
    """
    updates: dict[str, str] = {}
    home = settings.home.resolve()
    if settings.redis_url is None:
        embedded_redis = EmbeddedRedis(home / "redis")
        updates["redis_url"] = embedded_redis.start()
        stack.callback(embedded_redis.stop)
        log.info("embedded Redis at %s (AOF on)", updates["redis_url"])
    if settings.database_url is None:
        embedded_pg = EmbeddedPostgres(home / "postgres")
        updates["database_url"] = embedded_pg.start()
        stack.callback(embedded_pg.stop)
        log.info("embedded PostgreSQL at %s", updates["database_url"])
    return settings.model_copy(update=updates) if updates else settings


def child_environment(settings: Settings) -> dict[str, str]:
    """Environment that points child processes at the same servers and namespace."""
    env = {
        "EVENTPULSE_NAMESPACE": settings.namespace,
        "EVENTPULSE_HOME": str(settings.home.resolve()),
    }
    if settings.database_url:
        env["EVENTPULSE_DATABASE_URL"] = settings.database_url
    if settings.redis_url:
        env["EVENTPULSE_REDIS_URL"] = settings.redis_url
    return env
