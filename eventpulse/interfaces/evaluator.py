"""The rule side of a worker, in a process of its own: the rule reload listener and the live
evaluation loop.

A worker runs it as a child process (`worker.py`): evaluation is CPU-bound Python, and on a
thread it competed with persistence for the interpreter lock (benchmarks/RESULTS.md measured
persistence 7-17% slower with 20 rules). As a process it uses another core, and persistence
never waits for it. Both talk only through PostgreSQL and Redis — the evaluation lease is an
advisory lock and the rule set's report goes to Redis under the worker's name — so nothing
else changes. The parent wakes it after each persisted batch (a process-shared event); if the
parent dies, the child notices its pipe closing and stops too.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import threading
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event as ProcessEvent
from typing import Any

from redis import Redis
from redis.exceptions import RedisError

from eventpulse.application.anomaly_feed import FeedPublisher
from eventpulse.application.evaluation import LiveEvaluation
from eventpulse.application.messages import render_anomaly
from eventpulse.application.rule_set import LiveRules
from eventpulse.infrastructure.jinja_messages import JinjaMessageTemplates
from eventpulse.infrastructure.postgres_evaluation import PostgresEvaluationStore
from eventpulse.infrastructure.postgres_outbox import PostgresAnomalyOutbox
from eventpulse.infrastructure.postgres_rule_set import PostgresRuleSetSource
from eventpulse.infrastructure.redis_anomaly_feed import RedisAnomalyFeed
from eventpulse.infrastructure.redis_frontier import RedisPersistedFrontier
from eventpulse.infrastructure.redis_reload import RedisWorkerReports, ReloadListener
from eventpulse.infrastructure.settings import Settings
from eventpulse.interfaces.signals import stop_on_signals

log = logging.getLogger("eventpulse.evaluator")


def run_evaluator(settings: Settings, name: str, stop: threading.Event, wake: Any) -> None:
    """Load rules, listen for reloads and evaluate until `stop`. `wake` has `wait(timeout)`
    and `clear()` (a threading or a multiprocessing event)."""
    assert settings.redis_url and settings.database_url, "URLs are resolved before start-up"
    from eventpulse.infrastructure.prometheus_metrics import PrometheusMeter, mark_process_dead

    client = Redis.from_url(
        settings.redis_url, socket_connect_timeout=2, socket_timeout=10, health_check_interval=30
    )
    rule_source = PostgresRuleSetSource(settings.database_url)
    reports = RedisWorkerReports(client, settings.namespace, name, settings.worker_ttl_s)
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
    store = PostgresEvaluationStore(settings.database_url, name)
    evaluation = LiveEvaluation(
        store,
        RedisPersistedFrontier(client, settings.stream_key),
        rules,
        render=lambda anomaly, rule: render_anomaly(anomaly, templates, rule.spec.name),
        publisher=FeedPublisher(outbox, RedisAnomalyFeed(client, settings.namespace)),
        batch_size=settings.evaluation_batch,
        meter=PrometheusMeter(),
    )
    reloading = threading.Thread(target=listener.run, args=(stop,), name="rule-reload")
    try:
        reloading.start()
        if settings.evaluate:
            evaluation.run(stop, wake, settings.evaluation_idle_s)
        else:
            stop.wait()
    finally:
        stop.set()
        reloading.join(timeout=30)
        try:
            reports.withdraw()
        except RedisError as exc:  # its report expires by itself
            log.warning("could not withdraw this worker's report: %s", exc)
        store.close()
        outbox.close()
        rule_source.close()
        client.close()
        mark_process_dead(os.getpid())  # its evaluation lag is no longer live


class EvaluatorProcess:
    """The child process of one worker (spawned: no state shared but what is passed)."""

    def __init__(self, settings: Settings, name: str) -> None:
        context = multiprocessing.get_context("spawn")
        self.wake = context.Event()
        self._stop = context.Event()
        # The lifeline: the child reads, this process holds the write end and never writes;
        # when this process dies, the write end closes and the child's read sees EOF.
        self._reader, self._writer = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_child_main,
            args=(settings, name, self._stop, self.wake, self._reader),
            name=f"evaluator-{name}",
        )

    def start(self) -> None:
        self._process.start()
        self._reader.close()

    def stop(self, timeout: float = 30) -> None:
        self._stop.set()
        self.wake.set()
        self._process.join(timeout)
        if self._process.is_alive():
            log.warning("evaluator did not stop in %ss; terminating it", timeout)
            self._process.terminate()
            self._process.join(5)
        self._writer.close()
        if self._process.pid is not None:  # a crashed child could not say it was gone
            from eventpulse.infrastructure.prometheus_metrics import mark_process_dead

            mark_process_dead(self._process.pid)


def _child_main(
    settings: Settings, name: str, stop: ProcessEvent, wake: ProcessEvent, lifeline: Connection
) -> None:
    from eventpulse.interfaces.cli.process import prepare_process

    prepare_process("worker")
    gc.freeze()  # start-up objects are permanent: keep them out of every collection
    local_stop = stop_on_signals()
    threading.Thread(target=_watch, args=(stop, lifeline, local_stop), daemon=True).start()
    run_evaluator(settings, name, local_stop, _Wake(wake, local_stop))


def _watch(stop: ProcessEvent, lifeline: Connection, local_stop: threading.Event) -> None:
    """Stop when the parent asks, or when it is gone (the pipe's other end closed)."""
    while not local_stop.is_set():
        if stop.wait(0.5):
            break
        try:
            if lifeline.poll(0):
                lifeline.recv()
        except (EOFError, OSError):
            log.warning("the worker process is gone: stopping its evaluator")
            break
    local_stop.set()


class _Wake:
    """The parent's event, also released by this process's own stop."""

    def __init__(self, shared: ProcessEvent, local_stop: threading.Event) -> None:
        self._shared = shared
        self._local_stop = local_stop

    def wait(self, timeout: float) -> bool:
        return self._shared.wait(timeout) or self._local_stop.is_set()

    def clear(self) -> None:
        self._shared.clear()
