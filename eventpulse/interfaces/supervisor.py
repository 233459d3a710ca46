"""`eventpulse up`: every process of the product on one machine, in the foreground.

The supervisor owns the embedded servers (when no URLs are configured), applies migrations,
then runs the API, the workers and the notifier (when its config is valid) as child processes in
their own sessions, so that Ctrl-C reaches only the supervisor, which stops them in order: API
first (no new events), then the workers (they finish and acknowledge their batch) and the
notifier (it finishes deliveries in progress), then the servers. A child that dies on its
own is restarted with backoff.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from types import FrameType

from eventpulse.infrastructure import schema
from eventpulse.infrastructure.settings import Settings
from eventpulse.interfaces.local_services import child_environment, with_servers

log = logging.getLogger("eventpulse.up")

_STOP_TIMEOUT_S = 20.0
_MAX_RESTART_DELAY_S = 30.0
_STABLE_AFTER_S = 60.0


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    restart_at: float = 0.0
    started_at: float = 0.0
    terminated: bool = False
    env: dict[str, str] = field(default_factory=dict)

    def start(self) -> None:
        self.started_at = time.monotonic()
        self.terminated = False
        self.process = subprocess.Popen(
            [sys.executable, "-m", "eventpulse", *self.argv],
            env={**os.environ, **self.env},
            start_new_session=True,
        )

    def terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.terminated = True

    def stop(self, deadline: float) -> None:
        """SIGTERM (if not sent yet), then wait until `deadline`, then SIGKILL."""
        if self.process is None or self.process.poll() is not None:
            return
        if not self.terminated:
            self.terminate()
        try:
            self.process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop in time; killing it", self.name)
            self.process.kill()
            self.process.wait()


@dataclass(frozen=True)
class UpOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1


def run_up(settings: Settings, options: UpOptions) -> int:
    stop = threading.Event()

    def request_stop(signum: int, _: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    with ExitStack() as stack:
        settings = with_servers(settings, stack)
        assert settings.database_url is not None
        schema.upgrade(settings.database_url)
        env = child_environment(settings)
        api = Child("api", ["api", "--host", options.host, "--port", str(options.port)], env=env)
        workers = [
            Child(f"worker-{i}", ["worker", "--consumer", f"worker-{i}"], env=env)
            for i in range(1, options.workers + 1)
        ]
        notifiers = notifier_children(settings, env)
        children = [api, *workers, *notifiers]
        background = [*workers, *notifiers]  # stopped together, after the API
        for child in children:
            child.start()
        base = f"http://{options.host}:{options.port}"
        print(
            f"EventPulse is up: API {base}/api/v1  docs {base}/docs  ({options.workers} "
            f"worker{'s' if options.workers != 1 else ''}; Ctrl-C stops everything)",
            flush=True,
        )
        while not stop.wait(0.5):
            _restart_exited(children)
        print("EventPulse: stopping…", flush=True)
        api.stop(time.monotonic() + _STOP_TIMEOUT_S)
        # The workers get their own full grace period to store and ack what they have read.
        deadline = time.monotonic() + _STOP_TIMEOUT_S
        for worker in background:
            worker.terminate()  # all at once: they finish their batches in parallel
        for worker in background:
            worker.stop(deadline)
    print("EventPulse: stopped.", flush=True)
    return 0


def notifier_children(settings: Settings, env: dict[str, str]) -> list[Child]:
    """The notifier, when its config is valid; otherwise none, and the log says why (the
    product runs without notifications rather than not at all)."""
    from eventpulse.infrastructure.notify_config import InvalidNotificationConfig
    from eventpulse.interfaces.notifier import load_notification_config

    try:
        config = load_notification_config(settings)
    except InvalidNotificationConfig as exc:
        log.warning("the notifier is not started: %s", exc)
        return []
    path = str(settings.notifications.resolve())
    log.info("notifier: %d routes from %s", len(config.plan.routes), path)
    notifier_env = {**env, "EVENTPULSE_NOTIFICATIONS": path}
    return [Child("notifier", ["notifier", "--consumer", "notifier-1"], env=notifier_env)]


def _restart_exited(children: list[Child]) -> None:
    now = time.monotonic()
    for child in children:
        if child.process is None or child.process.poll() is None:
            continue
        if child.restart_at == 0.0:
            if now - child.started_at > _STABLE_AFTER_S:
                child.restarts = 0  # it ran fine for a while: this crash starts a new series
            delay = min(_MAX_RESTART_DELAY_S, 0.5 * 2**child.restarts)
            log.warning(
                "%s exited with %s; restarting in %.1fs",
                child.name,
                child.process.returncode,
                delay,
            )
            child.restart_at = now + delay
        elif now >= child.restart_at:
            child.restarts += 1
            child.restart_at = 0.0
            child.start()
