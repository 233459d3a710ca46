"""The notifier's composition root: the notification config, the feed consumer, the delivery
records, silences and rule tags (one PostgreSQL pool), one sender per channel, and the
`Notifier` loop on one asyncio event loop until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from typing import Any

from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

from eventpulse.application.notify import Notifier, NotifierOptions
from eventpulse.application.notify_stats import NotifierStats
from eventpulse.infrastructure.notifier_channels import build_senders
from eventpulse.infrastructure.notify_config import NotificationConfig, load_config
from eventpulse.infrastructure.postgres_active_silences import PostgresSilences
from eventpulse.infrastructure.postgres_deliveries import PostgresDeliveryLog
from eventpulse.infrastructure.postgres_rule_tags import PostgresRuleTags
from eventpulse.infrastructure.prometheus_metrics import PrometheusMeter
from eventpulse.infrastructure.redis_anomaly_consumer import RedisAnomalyConsumer
from eventpulse.infrastructure.settings import Settings

log = logging.getLogger("eventpulse.notifier")


def default_consumer_name() -> str:
    return f"{socket.gethostname()}-notifier-{os.getpid()}"


def load_notification_config(settings: Settings) -> NotificationConfig:
    """The config named by EVENTPULSE_NOTIFICATIONS; `InvalidNotificationConfig` says where
    and why it is wrong."""
    return load_config(settings.notifications, os.environ)


def options_from(settings: Settings) -> NotifierOptions:
    return NotifierOptions(
        read_count=settings.notifier_read_count,
        block_ms=settings.notifier_block_ms,
        max_in_flight=settings.notifier_max_in_flight,
        max_deliveries=settings.notifier_max_deliveries,
        claim_every_s=settings.notifier_claim_every_s,
        touch_every_s=max(0.1, settings.notifier_claim_idle_ms / 3000),
        grace_s=settings.notifier_grace_s,
    )


def run_notifier(settings: Settings, consumer: str, config: NotificationConfig) -> NotifierStats:
    """Run one notifier until SIGTERM/SIGINT; deliveries in progress get a grace period."""
    return asyncio.run(_run(settings, consumer, config))


async def _run(settings: Settings, consumer: str, config: NotificationConfig) -> NotifierStats:
    assert settings.redis_url and settings.database_url, "URLs are resolved before start-up"
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, _request_stop, stop, signum)
    redis = Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=2,
        socket_timeout=settings.notifier_block_ms / 1000 + 5,
        health_check_interval=30,
    )
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        settings.database_url,
        min_size=1,
        max_size=4,
        open=False,
        timeout=5,
        kwargs={"connect_timeout": 5, "options": "-c timezone=UTC"},
    )
    await pool.open(wait=False)
    senders = build_senders(config, settings.api_url)
    notifier = Notifier(
        RedisAnomalyConsumer(
            redis, settings.namespace, consumer, claim_idle_ms=settings.notifier_claim_idle_ms
        ),
        PostgresDeliveryLog(pool),
        PostgresSilences(pool, settings.notifier_cache_s),
        PostgresRuleTags(pool),
        config.plan,
        senders,
        options_from(settings),
        meter=PrometheusMeter(),
    )
    channels = ", ".join(f"{n} ({s.type})" for n, s in config.plan.channels.items()) or "none"
    log.info(
        "notifier %s: %d routes to %s, from %s",
        consumer,
        len(config.plan.routes),
        channels,
        config.source,
    )
    try:
        return await notifier.run(stop)
    finally:
        for sender in senders.values():
            await sender.close()
        await pool.close()
        await redis.aclose()


def _request_stop(stop: asyncio.Event, signum: int) -> None:
    log.info("signal %s: finishing deliveries in progress, then stopping", signum)
    stop.set()
