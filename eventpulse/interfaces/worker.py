"""The worker's composition root: the persist loop in this process, the rules (reload listener
and live evaluation) in a child process of its own (`evaluator.py`).

Persistence never waits for evaluation: the evaluator reads what is stored (see
application/evaluation.py) and is only woken early by each persisted batch."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Sequence

from redis import Redis

from eventpulse.application.persist import OnPersisted, Persister, PersistPolicy, PersistStats
from eventpulse.domain.errors import StreamUnavailable
from eventpulse.domain.events import Event
from eventpulse.infrastructure.postgres_events import PostgresEventStore
from eventpulse.infrastructure.prometheus_metrics import PrometheusMeter
from eventpulse.infrastructure.redis_stream import RedisIngestStream
from eventpulse.infrastructure.settings import Settings
from eventpulse.interfaces.evaluator import SupervisedEvaluator
from eventpulse.interfaces.signals import stop_on_signals

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
    stop = stop or stop_on_signals(log, "finishing the current batch, then stopping")
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
    meter = PrometheusMeter()
    evaluator = SupervisedEvaluator(settings, consumer)

    def persisted(events: Sequence[Event]) -> None:
        evaluator.wake()  # the frontier may have moved: evaluate now, not at the next tick
        if on_persisted is not None:
            on_persisted(events)

    log.info("worker %s consuming %s", consumer, settings.stream_key)
    try:
        evaluator.start()
        while not stop.is_set():
            try:
                stream.ensure_group()
                break
            except StreamUnavailable as exc:
                log.warning("cannot create the consumer group yet, retrying: %s", exc)
                stop.wait(1.0)
        persister = Persister(stream, store, policy_from(settings), persisted, meter=meter)
        return persister.run(stop)
    finally:
        stop.set()
        evaluator.stop()
        store.close()
        client.close()
