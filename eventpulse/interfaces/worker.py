"""The worker's composition root: stream consumer + event store + persist loop."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from types import FrameType

from redis import Redis

from eventpulse.application.persist import OnPersisted, Persister, PersistPolicy, PersistStats
from eventpulse.domain.errors import StreamUnavailable
from eventpulse.infrastructure.postgres_events import PostgresEventStore
from eventpulse.infrastructure.redis_stream import RedisIngestStream
from eventpulse.infrastructure.settings import Settings

log = logging.getLogger("eventpulse.worker")


def default_consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def policy_from(settings: Settings) -> PersistPolicy:
    return PersistPolicy(
        read_count=settings.worker_read_count,
        block_ms=settings.worker_block_ms,
        max_deliveries=settings.worker_max_deliveries,
        claim_every_s=settings.worker_claim_every_s,
        trim_every_s=settings.worker_trim_every_s,
    )


def run_worker(
    settings: Settings,
    consumer: str,
    stop: threading.Event | None = None,
    on_persisted: OnPersisted | None = None,
) -> PersistStats:
    """Run one consumer until SIGTERM/SIGINT (or `stop`); the batch in hand is finished first."""
    assert settings.redis_url and settings.database_url, "URLs are resolved before start-up"
    stop = stop or _stop_on_signals()
    client = Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=2,
        socket_timeout=settings.worker_block_ms / 1000 + 5,
        health_check_interval=30,
    )
    stream = RedisIngestStream(
        client,
        settings.stream_key,
        settings.dead_letter_key,
        consumer,
        claim_idle_ms=settings.worker_claim_idle_ms,
    )
    store = PostgresEventStore(settings.database_url)
    log.info("worker %s consuming %s", consumer, settings.stream_key)
    try:
        while not stop.is_set():
            try:
                stream.ensure_group()
                break
            except StreamUnavailable as exc:
                log.warning("cannot create the consumer group yet, retrying: %s", exc)
                stop.wait(1.0)
        return Persister(stream, store, policy_from(settings), on_persisted).run(stop)
    finally:
        store.close()
        client.close()


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def request_stop(signum: int, _: FrameType | None) -> None:
        log.info("signal %s: finishing the current batch, then stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    return stop
