"""The worker's composition root: the persist loop, the rule reload listener and the live
evaluation loop, each on its own thread, sharing one stop event.

Persistence never waits for evaluation: the evaluation thread reads what is stored (see
application/evaluation.py) and is only woken early by each persisted batch."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from collections.abc import Sequence
from types import FrameType

from redis import Redis
from redis.exceptions import RedisError

from eventpulse.application.anomaly_feed import FeedPublisher
from eventpulse.application.evaluation import LiveEvaluation
from eventpulse.application.messages import render_anomaly
from eventpulse.application.persist import OnPersisted, Persister, PersistPolicy, PersistStats
from eventpulse.application.rule_set import LiveRules
from eventpulse.domain.errors import StreamUnavailable
from eventpulse.domain.events import Event
from eventpulse.infrastructure.jinja_messages import JinjaMessageTemplates
from eventpulse.infrastructure.postgres_evaluation import PostgresEvaluationStore
from eventpulse.infrastructure.postgres_events import PostgresEventStore
from eventpulse.infrastructure.postgres_outbox import PostgresAnomalyOutbox
from eventpulse.infrastructure.postgres_rule_set import PostgresRuleSetSource
from eventpulse.infrastructure.redis_anomaly_feed import RedisAnomalyFeed
from eventpulse.infrastructure.redis_frontier import RedisPersistedFrontier
from eventpulse.infrastructure.redis_reload import RedisWorkerReports, ReloadListener
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
    rule_source = PostgresRuleSetSource(settings.database_url)
    reports = RedisWorkerReports(client, settings.namespace, consumer, settings.worker_ttl_s)
    rules = LiveRules(rule_source, reports)
    listener = ReloadListener(
        client,
        settings.namespace,
        rules,
        reports,
        resync_s=settings.rules_resync_s,
        heartbeat_s=settings.worker_heartbeat_s,
    )
    templates = JinjaMessageTemplates()
    outbox = PostgresAnomalyOutbox(settings.database_url)
    evaluation_store = PostgresEvaluationStore(settings.database_url, consumer)
    evaluation = LiveEvaluation(
        evaluation_store,
        RedisPersistedFrontier(client, settings.stream_key),
        rules,
        render=lambda anomaly, rule: render_anomaly(anomaly, templates, rule.spec.name),
        publisher=FeedPublisher(outbox, RedisAnomalyFeed(client, settings.namespace)),
        batch_size=settings.evaluation_batch,
    )
    wake = threading.Event()

    def persisted(events: Sequence[Event]) -> None:
        wake.set()  # the frontier may have moved: evaluate now rather than at the next tick
        if on_persisted is not None:
            on_persisted(events)

    threads = [threading.Thread(target=listener.run, args=(stop,), name="rule-reload", daemon=True)]
    if settings.evaluate:
        threads.append(
            threading.Thread(
                target=evaluation.run,
                args=(stop, wake, settings.evaluation_idle_s),
                name="evaluation",
                daemon=True,
            )
        )
    log.info("worker %s consuming %s", consumer, settings.stream_key)
    try:
        for thread in threads:
            thread.start()
        while not stop.is_set():
            try:
                stream.ensure_group()
                break
            except StreamUnavailable as exc:
                log.warning("cannot create the consumer group yet, retrying: %s", exc)
                stop.wait(1.0)
        return Persister(stream, store, policy_from(settings), persisted).run(stop)
    finally:
        stop.set()
        wake.set()
        for thread in threads:
            thread.join(timeout=30)
        _withdraw(reports)
        evaluation_store.close()
        outbox.close()
        rule_source.close()
        store.close()
        client.close()


def _withdraw(reports: RedisWorkerReports) -> None:
    try:
        reports.withdraw()
    except RedisError as exc:  # its report expires by itself
        log.warning("could not withdraw this worker's report: %s", exc)


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def request_stop(signum: int, _: FrameType | None) -> None:
        log.info("signal %s: finishing the current batch, then stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    return stop
