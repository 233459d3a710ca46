"""`eventpulse scheduler`: anomaly reports on the cron schedules of `EVENTPULSE_REPORTS`.

One loop in one thread: every tick it reaps finished report children, stops those over
`EVENTPULSE_REPORT_RUN_TIMEOUT_S`, and starts the runs the `Timetable` says are due
(application/report_schedules.py: never two runs of one schedule, missed fire times not
replayed, one catch-up after a restart). Each run is a child process (report_children.py)
holding the schedule's lock file, so a second scheduler on the same reports folder skips what
this one runs, and a fire time already in the index (run by another scheduler) is not run again.

Every run ends recorded in the index with its status and duration: by the report itself, or by
the scheduler when the child ended without recording (killed, crashed, over time) or could not
be started at all (the index unreadable, the process refused: the fire time is recorded failed
with the reason, its lock released, and the scheduler carries on). The child is given the run's
start time, which names its folder, so the scheduler and the child name the same files whichever
records the run first.

SIGTERM or SIGINT: no new runs; a run in progress may finish within
`EVENTPULSE_SCHEDULER_GRACE_S`, then it is recorded as failed and its process group is killed.
At start, runs left `running` on this host by processes that are gone (a previous scheduler
killed with its child) are recorded as failed, so the index says what happened to them.

Logs are JSON lines with `schedule` and `run_id`; `eventpulse_report_runs_total{schedule,outcome}`
counts runs (ok, failed) and skipped fire times (skipped).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from eventpulse.application.report_schedules import CronFactory, Due, Skip, Timetable
from eventpulse.application.reports import RunStatus, new_run_id
from eventpulse.domain.rules.durations import format_duration
from eventpulse.infrastructure.cron import cron_times
from eventpulse.infrastructure.report_files import FileReportStore, reports_root
from eventpulse.infrastructure.report_schedule_config import ReportSchedules, load_schedules
from eventpulse.infrastructure.settings import Settings
from eventpulse.interfaces.report_children import ReportChild, ScheduleLocks
from eventpulse.interfaces.signals import stop_on_signals

log = logging.getLogger("eventpulse.scheduler")

TICK_S: Final = 0.2
ERROR_PAUSE_S: Final = 5.0


def load_report_schedules(settings: Settings) -> ReportSchedules:
    """The schedules named by EVENTPULSE_REPORTS; `InvalidReportSchedules` says where and why."""
    return load_schedules(settings.reports)


@dataclass
class SchedulerStats:
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)  # (schedule, outcome)


class Scheduler:
    def __init__(
        self,
        settings: Settings,
        config: ReportSchedules,
        *,
        cron: CronFactory = cron_times,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.config = config
        self.root = reports_root(settings.home)
        self.store = FileReportStore(self.root)
        self.locks = ScheduleLocks(self.root)
        self.stats = SchedulerStats()
        self._cron = cron
        self._clock = clock
        self._children: dict[str, ReportChild] = {}
        self._env = {
            **os.environ,
            "EVENTPULSE_HOME": str(settings.home.resolve()),
            "EVENTPULSE_LOG_FORMAT": settings.log_format or "json",
        }

    def run(self, stop: threading.Event) -> SchedulerStats:
        settled = self.store.settle_abandoned()
        for run_id in settled:
            log.warning(
                "run %s was left running by a process that is gone: recorded as failed",
                run_id,
                extra={"run_id": run_id},
            )
        timetable = Timetable(
            self.config.schedules, self._cron, self._clock(), self.store.last_fire_times()
        )
        self._announce(timetable)
        while not stop.is_set():
            try:
                self._step(timetable)
            except Exception:  # the index or the lock folder unwritable: log, try again
                log.exception("scheduler step failed; retrying in %ss", ERROR_PAUSE_S)
                stop.wait(ERROR_PAUSE_S)
            stop.wait(self._sleep(timetable))
        self._shut_down()
        return self.stats

    def _step(self, timetable: Timetable) -> None:
        self._reap()
        self._enforce_timeouts()
        decisions = timetable.tick(self._clock(), running=set(self._children))
        for skip in decisions.skipped:
            self._skip(skip)
        for due in decisions.due:
            self.start_run(due)

    def _announce(self, timetable: Timetable) -> None:
        for schedule in timetable.schedules:
            log.info(
                "schedule %s: %r, reports of %s, first at %s",
                schedule.name,
                schedule.cron,
                format_duration(int(schedule.period.total_seconds())),
                self._cron(schedule.cron).next_after(self._clock()).isoformat(),
                extra={"schedule": schedule.name},
            )
        disabled = len(self.config.schedules) - len(timetable.schedules)
        log.info(
            "scheduler: %d schedules (%d disabled) from %s; reports in %s",
            len(timetable.schedules),
            disabled,
            self.config.source,
            self.root,
        )

    def _sleep(self, timetable: Timetable) -> float:
        wakeup = timetable.next_wakeup()
        if wakeup is None:
            return TICK_S
        return min(TICK_S, max(0.01, (wakeup - self._clock()).total_seconds()))

    def start_run(self, due: Due) -> ReportChild | None:
        """Start the run of a due fire time, unless another process holds the schedule's lock
        or the index has a run for that fire time (or a later one) already. A run that cannot
        start, for whatever reason, is recorded failed for its fire time (the timetable has
        moved past it): the lock is released and the scheduler carries on."""
        name = due.schedule.name
        if due.missed:
            log.warning(
                "schedule %s: %d earlier fire times missed; running %s only",
                name,
                due.missed,
                due.fire_time.isoformat(),
                extra={"schedule": name},
            )
        started = self._clock()
        run_id = new_run_id(started)
        lock: int | None = None
        try:
            lock = self.locks.try_acquire(name)
            if lock is None:
                self._skip(Skip(due.schedule, due.fire_time, reason="another scheduler runs it"))
                return None
            if self._ran_already(due):
                with contextlib.suppress(OSError):
                    os.close(lock)
                return None
            child = ReportChild.start(
                due,
                run_id,
                lock,
                root=self.root,
                env=self._env,
                timeout_s=self.settings.report_run_timeout_s,
                started_at=started,
            )
        except Exception as exc:
            if lock is not None:
                with contextlib.suppress(OSError):
                    os.close(lock)
            self._not_started(due, run_id, started, exc)
            return None
        self._children[name] = child
        log.info(
            "schedule %s: report %s started for [%s, %s)%s",
            name,
            run_id,
            due.request.since.isoformat(),
            due.fire_time.isoformat(),
            " (catch-up)" if due.catch_up else "",
            extra={"schedule": name, "run_id": run_id, "child_pid": child.process.pid},
        )
        return child

    def _ran_already(self, due: Due) -> bool:
        name = due.schedule.name
        last = self.store.last_fire_times().get(name)
        if last is None or last < due.fire_time:
            return False
        log.info(
            "schedule %s: the report for %s is already in the index; not run again",
            name,
            due.fire_time.isoformat(),
            extra={"schedule": name},
        )
        return True

    def _not_started(self, due: Due, run_id: str, started: datetime, exc: Exception) -> None:
        """Record, count and log a run that could not start."""
        name = due.schedule.name
        context = {"schedule": name, "run_id": run_id}
        what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        reason = f"the run could not start: {what}"
        try:
            self.store.fail(due.request, run_id, started, reason)
        except Exception:
            log.exception(
                "schedule %s: run %s for %s could not be recorded as failed",
                name,
                run_id,
                due.fire_time.isoformat(),
                extra=context,
            )
        self._count(name, "failed")
        log.error(
            "schedule %s: report %s for %s: %s",
            name,
            run_id,
            due.fire_time.isoformat(),
            reason,
            exc_info=None if isinstance(exc, OSError) else exc,
            extra=context,
        )

    def _skip(self, skip: Skip) -> None:
        name = skip.schedule.name
        self._count(name, "skipped")
        log.warning(
            "schedule %s: fire time %s skipped: %s",
            name,
            skip.fire_time.isoformat(),
            skip.reason,
            extra={"schedule": name},
        )

    def _reap(self) -> None:
        for name, child in list(self._children.items()):
            if child.running():
                continue
            del self._children[name]
            run = child.finish(self.store)
            status = "failed" if run is None else str(run.status)
            self._count(name, status)
            duration = None if run is None else run.duration_s
            error = None if run is None else run.error
            level = logging.INFO if status == str(RunStatus.OK) else logging.WARNING
            log.log(
                level,
                "schedule %s: report %s %s in %ss%s",
                name,
                child.run_id,
                status,
                "?" if duration is None else f"{duration:.1f}",
                f": {error}" if error else "",
                extra={
                    "schedule": name,
                    "run_id": child.run_id,
                    "outcome": status,
                    "duration_s": duration,
                },
            )

    def _enforce_timeouts(self) -> None:
        now = time.monotonic()
        for child in self._children.values():
            child.enforce(self.store, now, self.settings.report_run_timeout_s)

    def _shut_down(self) -> None:
        if self._children:
            names = ", ".join(f"{c.schedule} ({c.run_id})" for c in self._children.values())
            grace = self.settings.scheduler_grace_s
            log.info("stopping: waiting up to %gs for %s", grace, names)
            deadline = time.monotonic() + grace
            while self._children and time.monotonic() < deadline:
                self._reap()
                time.sleep(0.05)
            reason = f"stopped: the scheduler stopped and the run did not end within {grace:g}s"
            for child in self._children.values():
                child.stop(self.store, reason)
            while self._children:
                self._reap()
                for child in self._children.values():
                    child.enforce(self.store, time.monotonic(), self.settings.report_run_timeout_s)
                time.sleep(0.05)
        log.info("scheduler stopped")

    def _count(self, schedule: str, outcome: str) -> None:
        from eventpulse.infrastructure.prometheus_metrics import REPORT_RUNS

        self.stats.outcomes[(schedule, outcome)] += 1
        REPORT_RUNS.labels(schedule, outcome).inc()


def run_scheduler(settings: Settings, config: ReportSchedules) -> SchedulerStats:
    """Run until SIGTERM/SIGINT."""
    stop = stop_on_signals(log, "starting no more runs, then stopping")
    return Scheduler(settings, config).run(stop)
