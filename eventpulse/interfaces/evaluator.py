"""The rule side of a worker, in a process of its own: the rule reload listener and the live
evaluation loop.

A worker runs it as a child process (`worker.py`): evaluation is CPU-bound Python, and on a
thread it competed with persistence for the interpreter lock (benchmarks/RESULTS.md measured
persistence 7-17% slower with 20 rules). As a process it uses another core, and persistence
never waits for it. Both talk only through PostgreSQL and Redis — the evaluation lease is an
advisory lock and the rule set's report goes to Redis under the worker's name — so nothing
else changes. The parent wakes it after each persisted batch (a byte on a pipe, never a
process-shared lock: see `EvaluatorProcess`); if the parent dies, the child notices the pipe
closing and stops too; if the child dies, the worker starts another (`SupervisedEvaluator`).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import os
import threading
import time
from multiprocessing.connection import Connection
from typing import Any, Final

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

WAKE: Final = b"w"
STOP: Final = b"s"


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
    """The child process of one worker (spawned: no state shared but what is passed).

    The worker talks to it through one pipe, a byte per request (`WAKE`, `STOP`), written
    without ever blocking; no process-shared lock or event: a child killed while holding one
    (the condition inside a multiprocessing `Event`) would block the worker for good. When the
    worker dies, the pipe's write end closes and the child reads EOF."""

    def __init__(self, settings: Settings, name: str) -> None:
        context = multiprocessing.get_context("spawn")
        self._reader, self._writer = context.Pipe(duplex=False)
        os.set_blocking(self._writer.fileno(), False)
        self._process = context.Process(
            target=_child_main, args=(settings, name, self._reader), name=f"evaluator-{name}"
        )

    def start(self) -> None:
        self._process.start()
        self._reader.close()

    @property
    def exitcode(self) -> int | None:
        """None while it runs; its exit code (negative: the signal) once it ended."""
        return self._process.exitcode

    def wake(self) -> None:
        """Evaluate now (the frontier may have moved), not at the next tick."""
        self._send(WAKE)

    def stop(self, timeout: float = 30) -> None:
        self._send(STOP)
        self._process.join(timeout)
        if self._process.is_alive():
            log.warning("evaluator did not stop in %ss; terminating it", timeout)
            self._process.terminate()
            self._process.join(5)
        self._writer.close()
        if self._process.pid is not None:  # a crashed child could not say it was gone
            from eventpulse.infrastructure.prometheus_metrics import mark_process_dead

            mark_process_dead(self._process.pid)

    def _send(self, request: bytes) -> None:
        # Full (requests are pending: enough), closed, or the child is gone: nothing to add.
        with contextlib.suppress(OSError):
            os.write(self._writer.fileno(), request)


class SupervisedEvaluator:
    """A worker's evaluator child, started again when it dies without being asked to stop (a
    crash, the OOM killer): without it the worker would go on persisting while its rule report
    expires and, if it held the evaluation lease, another worker's evaluator takes over — or, in
    a single-worker deployment, nothing evaluates at all. Restarts back off (`backoff_s`,
    doubling up to `max_backoff_s`; back to the start once a child ran for `healthy_s`)."""

    def __init__(
        self,
        settings: Settings,
        name: str,
        *,
        check_s: float = 0.5,
        backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        healthy_s: float = 60.0,
    ) -> None:
        self._settings = settings
        self._name = name
        self._check_s = check_s
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        self._healthy_s = healthy_s
        self._stopping = threading.Event()
        self._current = EvaluatorProcess(settings, name)
        self._monitor = threading.Thread(target=self._supervise, name="evaluator-supervisor")
        self.restarts = 0

    def start(self) -> None:
        self._current.start()
        self._monitor.start()

    def wake(self) -> None:
        self._current.wake()

    def stop(self, timeout: float = 30) -> None:
        self._stopping.set()
        if self._monitor.is_alive():
            self._monitor.join()
        self._current.stop(timeout)

    def _supervise(self) -> None:
        delay = self._backoff_s
        started = time.monotonic()
        while not self._stopping.wait(self._check_s):
            code = self._current.exitcode
            if code is None:
                if time.monotonic() - started >= self._healthy_s:
                    delay = self._backoff_s
                continue
            log.error(
                "the evaluator process exited (code %s); starting another in %.1fs", code, delay
            )
            self._current.stop(timeout=0)  # reaps it: closes its lifeline, marks its metrics dead
            if self._stopping.wait(delay):
                return
            self._current = EvaluatorProcess(self._settings, self._name)
            self._current.start()
            self.restarts += 1
            started = time.monotonic()
            delay = min(delay * 2, self._max_backoff_s)


def _child_main(settings: Settings, name: str, control: Connection) -> None:
    from eventpulse.interfaces.cli.process import prepare_process

    prepare_process("worker")
    gc.freeze()  # start-up objects are permanent: keep them out of every collection
    stop = stop_on_signals()
    wake = threading.Event()
    threading.Thread(target=_listen, args=(control, stop, wake), daemon=True).start()
    run_evaluator(settings, name, stop, wake)


def _listen(control: Connection, stop: threading.Event, wake: threading.Event) -> None:
    """The worker's requests; EOF means the worker is gone, and this process stops too."""
    while not stop.is_set():
        if not control.poll(0.5):
            continue
        try:
            data = os.read(control.fileno(), 4096)
        except OSError:
            data = b""
        if not data:
            log.warning("the worker process is gone: stopping its evaluator")
            break
        if STOP in data:
            break
        wake.set()
    stop.set()
    wake.set()  # an evaluation loop waiting for work sees the stop at once
