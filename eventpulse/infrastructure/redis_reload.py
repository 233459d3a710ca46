"""Hot reload, worker side: the reload channel, the resync timer and the worker's report.

Keys (under the namespace): Pub/Sub `{ns}:rules` carries announcements; each worker keeps
`{ns}:workers:{name}` (its report: the rule-set revision and versions it runs; expires unless
refreshed by the heartbeat, so a dead worker stops being waited for) and its name in the set
`{ns}:workers`; after every load it publishes its name on `{ns}:rules:confirmed`, which wakes
an API waiting for confirmations.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Final

import orjson
from redis import Redis
from redis.client import PubSub
from redis.exceptions import RedisError

from eventpulse.application.rule_set import LiveRules
from eventpulse.domain.errors import EventPulseError

log = logging.getLogger("eventpulse.rules")

MAX_BACKOFF_S: Final = 5.0


def rules_channel(namespace: str) -> str:
    return f"{namespace}:rules"


def confirmed_channel(namespace: str) -> str:
    return f"{namespace}:rules:confirmed"


def workers_key(namespace: str) -> str:
    return f"{namespace}:workers"


def report_key(namespace: str, worker: str) -> str:
    return f"{namespace}:workers:{worker}"


class RedisWorkerReports:
    """The `WorkerReports` port: one worker's report, kept alive by `heartbeat`."""

    def __init__(self, client: Redis, namespace: str, worker: str, ttl_s: float) -> None:
        self._client = client
        self._namespace = namespace
        self._worker = worker
        self._ttl_ms = max(1, int(ttl_s * 1000))
        self._report: bytes | None = None

    def report(self, revision: int, versions: Mapping[str, int]) -> None:
        document = {"worker": self._worker, "revision": revision, "versions": dict(versions)}
        self._report = orjson.dumps(document)
        self._write(publish=True)

    def heartbeat(self) -> None:
        if self._report is not None:
            self._write(publish=False)

    def withdraw(self) -> None:
        """Leave the set of live workers (a clean stop: nobody waits for this one any more)."""
        pipe = self._client.pipeline(transaction=True)
        pipe.delete(report_key(self._namespace, self._worker))
        pipe.srem(workers_key(self._namespace), self._worker)
        pipe.publish(confirmed_channel(self._namespace), self._worker)
        pipe.execute()

    def _write(self, *, publish: bool) -> None:
        assert self._report is not None
        pipe = self._client.pipeline(transaction=True)
        pipe.set(report_key(self._namespace, self._worker), self._report, px=self._ttl_ms)
        pipe.sadd(workers_key(self._namespace), self._worker)
        if publish:
            pipe.publish(confirmed_channel(self._namespace), self._worker)
        pipe.execute()


class ReloadListener:
    """Runs on its own thread: reloads on announcements, resyncs and heartbeats on timers.

    After every (re)subscription it reloads once: announcements made while it was not
    subscribed were missed, and the resync would otherwise repair them only later.
    """

    def __init__(
        self,
        client: Redis,
        namespace: str,
        rules: LiveRules,
        reports: RedisWorkerReports,
        *,
        resync_s: float,
        heartbeat_s: float,
    ) -> None:
        self._client = client
        self._channel = rules_channel(namespace)
        self._rules = rules
        self._reports = reports
        self._resync_s = resync_s
        self._heartbeat_s = heartbeat_s
        self.loaded = threading.Event()
        """Set once the first rule set is loaded and reported."""

    def run(self, stop: threading.Event) -> None:
        failures = 0
        while not stop.is_set():
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
            try:
                self._rules.reload()  # first: the worker evaluates nothing before its first load
                self.loaded.set()
                pubsub.subscribe(self._channel)
                self._rules.reload()  # what changed before the subscription took effect
                self.loaded.set()
                failures = 0
                self._listen(pubsub, stop)
            except (RedisError, EventPulseError) as exc:
                failures += 1
                log.warning("rule reload unavailable, retrying: %s", exc)
                stop.wait(min(MAX_BACKOFF_S, 0.1 * 2**failures))
            finally:
                pubsub.close()

    def _listen(self, pubsub: PubSub, stop: threading.Event) -> None:
        now = time.monotonic()
        next_resync, next_beat = now + self._resync_s, now + self._heartbeat_s
        while not stop.is_set():
            timeout = max(0.0, min(next_resync, next_beat) - time.monotonic())
            message = pubsub.get_message(timeout=min(timeout, 0.5))
            now = time.monotonic()
            if message is not None:
                self._rules.reload()
                next_resync = now + self._resync_s
            elif now >= next_resync:
                self._rules.reload()  # a cheap revision check; loads only when it moved
                next_resync = now + self._resync_s
            if now >= next_beat:
                self._reports.heartbeat()
                next_beat = now + self._heartbeat_s
