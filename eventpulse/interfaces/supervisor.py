"""`eventpulse up`: every process of the product on one machine, in the foreground.

The supervisor owns the embedded servers (when no URLs are configured), applies migrations,
then runs the API, the workers, the notifier (when its config is valid) and the report
scheduler (when its schedules config exists and is valid) as child processes in their own
sessions, so that Ctrl-C reaches only the supervisor, which stops them in order: API first (no
new events), then the workers (they finish and acknowledge their batch), the notifier (it
finishes deliveries in progress) and the scheduler (a report in progress gets a grace period),
then the servers. A child that dies on its own is restarted with backoff.

Metrics: the children share one Prometheus multiprocess directory, which the CLI emptied
before this process started them (interfaces/metrics_dir.py); a child that exits is marked
dead there, so its `live*` gauges stop counting while its counters remain.
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
from pathlib import Path

from eventpulse.infrastructure import schema
from eventpulse.infrastructure.prometheus_metrics import mark_process_dead
from eventpulse.infrastructure.settings import Settings
from eventpulse.interfaces.exposure import UnsafeExposure, check_exposure
from eventpulse.interfaces.local_services import child_environment, with_servers
from eventpulse.interfaces.signals import stop_on_signals

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
    allow_unauthenticated: bool = False
    seed: bool = False  # load the sample data and example rules (interfaces/seed.py)
    lab: bool = False  # also run JupyterLab on the notebooks (interfaces/lab.py)
    lab_port: int = 8888
    data: Path = Path("data")
    notebooks: Path = Path("notebooks")


def run_up(settings: Settings, options: UpOptions) -> int:
    stop = stop_on_signals()
    with ExitStack() as stack:
        settings = with_servers(settings, stack)
        assert settings.database_url is not None
        schema.upgrade(settings.database_url)
        env = child_environment(settings)
        try:
            check_exposure(settings, options.host)  # refused here, not by a restarting child
        except UnsafeExposure as exc:
            log.error("%s", exc)
            return 2
        api_argv = ["api", "--host", options.host, "--port", str(options.port)]
        if options.allow_unauthenticated:
            api_argv.append("--allow-unauthenticated")
        api = Child("api", api_argv, env=env)
        workers = [
            Child(f"worker-{i}", ["worker", "--consumer", f"worker-{i}"], env=env)
            for i in range(1, options.workers + 1)
        ]
        notifiers = notifier_children(settings, env)
        schedulers = scheduler_children(settings, env)
        extras = lab_children(options, env)
        children = [api, *workers, *notifiers, *schedulers, *extras]
        background = [*workers, *notifiers, *schedulers, *extras]  # stopped after the API
        for child in children:
            child.start()
        base = f"http://{options.host}:{options.port}"
        log.info(
            "EventPulse is up: API %s/api/v1  docs %s/docs  metrics %s/metrics  (%d worker%s;"
            " Ctrl-C stops everything)",
            base,
            base,
            base,
            options.workers,
            "s" if options.workers != 1 else "",
        )
        if options.seed:
            start_seeding(base, options.data)
        while not stop.wait(0.5):
            _restart_exited(children)
        log.info("EventPulse: stopping…")
        api.stop(time.monotonic() + _STOP_TIMEOUT_S)
        # The workers get their own full grace period to store and ack what they have read.
        deadline = time.monotonic() + _STOP_TIMEOUT_S
        for worker in background:
            worker.terminate()  # all at once: they finish their batches in parallel
        for worker in background:
            worker.stop(deadline)
        for child in children:
            _reap(child)
    log.info("EventPulse: stopped.")
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


def scheduler_children(settings: Settings, env: dict[str, str]) -> list[Child]:
    """The report scheduler, when its schedules config exists and is valid; otherwise none,
    and the log says why (the product runs without scheduled reports rather than not at all).
    It stops its report in progress within EVENTPULSE_SCHEDULER_GRACE_S, inside the grace
    period this supervisor gives its children."""
    from eventpulse.infrastructure.report_schedule_config import InvalidReportSchedules
    from eventpulse.interfaces.scheduler import load_report_schedules

    if not settings.reports.exists():
        log.info("the report scheduler is not started: no schedules at %s", settings.reports)
        return []
    try:
        config = load_report_schedules(settings)
    except InvalidReportSchedules as exc:
        log.warning("the report scheduler is not started: %s", exc)
        return []
    except Exception:  # a bug in reading the file must not stop the rest of the product
        log.exception("the report scheduler is not started: reading %s failed", settings.reports)
        return []
    path = str(settings.reports.resolve())
    log.info("report scheduler: %d schedules from %s", len(config.schedules), path)
    scheduler_env = {
        **env,
        "EVENTPULSE_REPORTS": path,
        "EVENTPULSE_REPORT_NOTEBOOK": str(settings.report_notebook.resolve()),
        "EVENTPULSE_SCHEDULER_GRACE_S": str(min(settings.scheduler_grace_s, _STOP_TIMEOUT_S / 2)),
    }
    return [Child("scheduler", ["scheduler"], env=scheduler_env)]


def lab_children(options: UpOptions, env: dict[str, str]) -> list[Child]:
    """JupyterLab on the notebooks when `--lab` is given; its kernels inherit `env`, so the
    workbench finds the same servers, namespace and API."""
    if not options.lab:
        return []
    argv = ["lab", "--port", str(options.lab_port), "--notebooks", str(options.notebooks)]
    api_url = f"http://{options.host}:{options.port}"
    return [Child("lab", argv, env={**env, "EVENTPULSE_API_URL": api_url})]


def start_seeding(api_url: str, data: Path) -> threading.Thread:
    """Seed in the background (the supervisor keeps watching its children meanwhile)."""
    from eventpulse.interfaces.seed import seed

    def run() -> None:
        try:
            seed(api_url, data)
        except Exception:  # the product runs on without the sample; the log says why
            log.exception("seeding the sample data failed")

    thread = threading.Thread(target=run, name="seed", daemon=True)
    thread.start()
    return thread


def _reap(child: Child) -> None:
    if child.process is not None and child.process.poll() is not None:
        mark_process_dead(child.process.pid)


def _restart_exited(children: list[Child]) -> None:
    now = time.monotonic()
    for child in children:
        if child.process is None or child.process.poll() is None:
            continue
        if child.restart_at == 0.0:
            _reap(child)
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
