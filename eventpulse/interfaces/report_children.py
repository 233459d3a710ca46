"""One scheduled report run as a child process: `python -m eventpulse report … --run-id ID`.

The child runs in a session of its own (its process group is killed as a whole, and a Ctrl-C
at the scheduler's terminal does not reach it) and inherits the schedule's lock: the open lock
file is passed to it, so the `flock` stays held while either process lives — a scheduler killed
hard does not free the schedule for another scheduler while its report still runs.

When the child ends, its outcome is whatever it recorded; if it recorded none (killed, crashed,
stopped before its first record), the scheduler records the run as failed with the exit status
or signal and the duration. A run over its time limit is recorded as failed *before* it is
stopped (SIGTERM to the group, SIGKILL a few seconds later), so the record says why.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from eventpulse.application.report_schedules import Due
from eventpulse.application.reports import ReportRun, RunStatus
from eventpulse.infrastructure.report_files import LOCKS, FileReportStore

KILL_AFTER_S: Final = 5.0
"""Between SIGTERM and SIGKILL of a report's process group."""


class ScheduleLocks:
    """One lock file per schedule under `<reports root>/.locks/`: at most one run of a schedule
    at a time, across scheduler processes on hosts sharing the folder (local file systems;
    `flock` over NFS is not reliable)."""

    def __init__(self, root: Path) -> None:
        self.folder = root / LOCKS

    def try_acquire(self, schedule: str) -> int | None:
        """An open, exclusively locked file descriptor, or None if another process holds it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.folder / f"schedule-{schedule}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd


def report_argv(due: Due, run_id: str, root: Path, started_at: datetime) -> list[str]:
    """The `eventpulse report` command line of a due run (after `python -m eventpulse`). The
    run starts at `started_at`, the scheduler's time, which also names its folder: a run the
    scheduler records (failed) before the child records its start names the child's files."""
    request = due.request
    argv = [
        "report",
        "--since",
        request.since.isoformat(),
        "--until",
        request.until.isoformat(),
        "--title",
        request.title,
        "--out",
        str(root),
        "--schedule",
        due.schedule.name,
        "--run-id",
        run_id,
        "--started-at",
        started_at.astimezone(UTC).isoformat(),
    ]
    if request.rule_ids:
        argv += ["--rules", ",".join(request.rule_ids)]
    if due.schedule.notebook is not None:
        argv += ["--notebook", str(due.schedule.notebook)]
    return argv


@dataclass
class ReportChild:
    """A report run in progress: its child process, the schedule's lock and its time limit."""

    due: Due
    run_id: str
    process: subprocess.Popen[bytes]
    lock_fd: int
    started_at: datetime
    deadline: float  # time.monotonic()
    kill_at: float | None = None
    stop_reason: str | None = field(default=None)

    @classmethod
    def start(
        cls,
        due: Due,
        run_id: str,
        lock_fd: int,
        *,
        root: Path,
        env: dict[str, str],
        timeout_s: float,
        started_at: datetime | None = None,
        argv: list[str] | None = None,
    ) -> ReportChild:
        """Start the child; the run starts at `started_at` (default: now)."""
        started = datetime.now(UTC) if started_at is None else started_at.astimezone(UTC)
        report = report_argv(due, run_id, root, started)
        command = argv or [sys.executable, "-m", "eventpulse", *report]
        process = subprocess.Popen(
            command, env=env, start_new_session=True, pass_fds=(lock_fd,), stdin=subprocess.DEVNULL
        )
        return cls(due, run_id, process, lock_fd, started, time.monotonic() + timeout_s)

    @property
    def schedule(self) -> str:
        return self.due.schedule.name

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, store: FileReportStore, reason: str) -> None:
        """Record the run as failed with `reason` (unless it recorded its end), then SIGTERM
        its process group; `enforce` sends SIGKILL later if it is still there."""
        if self.kill_at is not None:
            return
        self.stop_reason = reason
        store.fail(self.due.request, self.run_id, self.started_at, reason)
        self._signal(signal.SIGTERM)
        self.kill_at = time.monotonic() + KILL_AFTER_S

    def enforce(self, store: FileReportStore, now: float, timeout_s: float) -> None:
        """Stop the run beyond its deadline; SIGKILL a group that outlived its SIGTERM."""
        if self.kill_at is None and now >= self.deadline:
            self.stop(store, f"timed out: still running after {timeout_s:g}s; stopped")
        elif self.kill_at is not None and now >= self.kill_at:
            self._signal(signal.SIGKILL)
            self.kill_at = now + KILL_AFTER_S

    def finish(self, store: FileReportStore) -> ReportRun | None:
        """After the child exited: its recorded run, recorded as failed first if it did not
        record its end. Releases the schedule's lock (this process's share of it)."""
        code = self.process.returncode
        try:
            recorded = store.recorded(self.run_id)
            if recorded is None or recorded.status is RunStatus.RUNNING:
                store.fail(self.due.request, self.run_id, self.started_at, _exit_reason(code))
            return store.get(self.run_id)
        finally:
            with contextlib.suppress(OSError):
                os.close(self.lock_fd)

    def _signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signum)


def _exit_reason(code: int | None) -> str:
    if code is not None and code < 0:
        return f"the report process was killed by {signal.Signals(-code).name} without recording"
    return f"the report process exited with status {code} without recording its outcome"
