"""A scheduled run's child process, with stand-in commands instead of `eventpulse report`: a run
that ends without recording its outcome is recorded failed with the exit status or signal, a
run over its time limit is recorded failed then killed (its whole process group), and the
schedule's lock is held while the child lives, even after the scheduler let go of it; a
scheduler does not start a fire time another one holds the lock for or has run already."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from eventpulse.application.report_schedules import Due, Schedule
from eventpulse.application.reports import RunReport, RunStatus
from eventpulse.infrastructure.report_files import FileReportStore
from eventpulse.infrastructure.report_schedule_config import ReportSchedules
from eventpulse.infrastructure.settings import Settings
from eventpulse.interfaces import report_children
from eventpulse.interfaces.report_children import ReportChild, ScheduleLocks, report_argv
from eventpulse.interfaces.scheduler import Scheduler
from tests.support import wait_until

FIRE = datetime(2024, 5, 1, 6, 0, tzinfo=UTC)
SCHEDULE = Schedule("daily", "0 6 * * *", timedelta(days=1), ("a", "b"), "Daily")
DUE = Due(SCHEDULE, FIRE)


def child(tmp_path: Path, code: str, run_id: str, timeout_s: float = 60) -> ReportChild:
    lock = ScheduleLocks(tmp_path).try_acquire("daily")
    assert lock is not None
    return ReportChild.start(
        DUE,
        run_id,
        lock,
        root=tmp_path,
        env=dict(os.environ),
        timeout_s=timeout_s,
        argv=[sys.executable, "-c", code],
    )


def ended(report: ReportChild, store: FileReportStore, timeout_s: float = 60) -> None:
    def done() -> bool:
        report.enforce(store, time.monotonic(), timeout_s)
        return not report.running()

    wait_until(done, timeout=30, what="the child to end")


def test_the_command_line_of_a_due_run(tmp_path: Path) -> None:
    notebook = tmp_path / "other.ipynb"
    due = Due(
        Schedule("daily", "0 6 * * *", timedelta(days=1), ("a", "b"), "Daily", True, notebook), FIRE
    )
    argv = report_argv(due, "rid-1", tmp_path, FIRE + timedelta(seconds=1))
    assert argv[0] == "report"
    options = dict(zip(argv[1::2], argv[2::2], strict=True))
    assert options == {
        "--since": "2024-04-30T06:00:00+00:00",
        "--until": "2024-05-01T06:00:00+00:00",
        "--title": "Daily",
        "--out": str(tmp_path),
        "--schedule": "daily",
        "--run-id": "rid-1",
        "--started-at": "2024-05-01T06:00:01+00:00",
        "--rules": "a,b",
        "--notebook": str(notebook),
    }


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("raise SystemExit(3)", "exited with status 3 without recording its outcome"),
        ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", "killed by SIGKILL"),
    ],
    ids=["exit-status", "signal"],
)
def test_a_child_that_ends_without_recording_is_recorded_failed_with_the_reason(
    tmp_path: Path, code: str, reason: str
) -> None:
    store = FileReportStore(tmp_path)
    report = child(tmp_path, code, "run-1")
    ended(report, store)
    run = report.finish(store)

    assert run is not None and run.status is RunStatus.FAILED
    assert run.error is not None and reason in run.error
    assert run.duration_s is not None and run.duration_s >= 0
    assert run.request == DUE.request
    assert ScheduleLocks(tmp_path).try_acquire("daily") is not None  # released


def test_what_the_child_recorded_stands(tmp_path: Path) -> None:
    store = FileReportStore(tmp_path)
    code = (
        "import sys; from dataclasses import replace; from datetime import datetime, UTC;"
        "from pathlib import Path; from eventpulse.application.reports import RunStatus;"
        "from eventpulse.infrastructure.report_files import FileReportStore;"
        "from tests.unit.test_report_children import DUE;"
        "s = FileReportStore(Path(sys.argv[1]));"
        "r = s.start(DUE.request, 'run-2', datetime.now(UTC));"
        "s.finish(replace(r, status=RunStatus.FAILED, error='cell 1 raised', duration_s=0.1));"
        "raise SystemExit(1)"
    )
    report = child(tmp_path, code.replace("sys.argv[1]", repr(str(tmp_path))), "run-2")
    ended(report, store)
    run = report.finish(store)
    assert run is not None and run.error == "cell 1 raised"


def test_a_run_over_its_time_limit_is_recorded_then_its_process_group_killed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report_children, "KILL_AFTER_S", 0.3)
    store = FileReportStore(tmp_path)
    # The child ignores SIGTERM and has a grandchild in its group: SIGKILL gets them both.
    # The grandchild says it runs by writing its pid (whole, by a rename), then waits for a
    # signal (both hang until killed).
    pid_file = tmp_path / "grandchild.pid"
    grandchild = (
        "import os, signal; p = os.environ['PID_FILE'];"
        "open(p + '.tmp', 'w').write(str(os.getpid())); os.replace(p + '.tmp', p);"
        "signal.pause()"
    )
    code = (
        "import signal, subprocess, sys; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
        f"subprocess.Popen([sys.executable, '-c', {grandchild!r}]);"
        "signal.pause()"
    )
    monkeypatch.setenv("PID_FILE", str(pid_file))
    report = child(tmp_path, code, "slow", timeout_s=60)
    wait_until(pid_file.exists, timeout=30, what="the grandchild to start")
    grandchild_pid = int(pid_file.read_text())
    report.deadline = time.monotonic()  # over its time limit now, with the grandchild running
    ended(report, store, timeout_s=0.5)
    run = report.finish(store)

    assert run is not None and run.status is RunStatus.FAILED
    assert run.error == "timed out: still running after 0.5s; stopped"
    wait_until(lambda: _gone(grandchild_pid), timeout=10, what="the grandchild to be killed")
    wait_until(lambda: _group_gone(report.process.pid), timeout=10, what="the group to go")


def _group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def _gone(pid: int) -> bool:
    """The process has exited (a zombie waiting for its new parent to reap it counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False  # no /proc: it exists until reaped
    return stat[stat.rfind(")") + 2 :].startswith("Z")


def test_the_lock_is_held_while_the_child_lives_even_if_the_scheduler_closes_its_copy(
    tmp_path: Path,
) -> None:
    store = FileReportStore(tmp_path)
    report = child(tmp_path, "import time; time.sleep(1.5)", "run-3")
    os.close(report.lock_fd)  # as if the scheduler were gone
    assert ScheduleLocks(tmp_path).try_acquire("daily") is None
    ended(report, store)
    report.finish(store)
    assert ScheduleLocks(tmp_path).try_acquire("daily") is not None


def test_stop_records_the_reason_first_and_terminates_the_group(tmp_path: Path) -> None:
    store = FileReportStore(tmp_path)
    report = child(tmp_path, "import signal; signal.pause()", "run-4")  # until signalled
    report.stop(store, "stopped: the scheduler stopped")
    ended(report, store)
    run = report.finish(store)
    assert report.process.returncode == -signal.SIGTERM
    assert run is not None and run.error == "stopped: the scheduler stopped"


def test_a_fire_time_locked_by_another_scheduler_or_already_indexed_is_not_run(
    tmp_path: Path,
) -> None:
    settings = Settings(home=tmp_path, database_url="postgresql://unused", redis_url="redis://")
    scheduler = Scheduler(settings, ReportSchedules("r.yaml", (SCHEDULE,)))
    held = ScheduleLocks(scheduler.root).try_acquire("daily")
    assert held is not None
    assert scheduler.start_run(DUE) is None  # another scheduler runs this schedule
    assert scheduler.stats.outcomes[("daily", "skipped")] == 1
    os.close(held)

    scheduler.store.fail(DUE.request, "by-another", FIRE, "it ran elsewhere")
    assert scheduler.start_run(DUE) is None  # that fire time is in the index already
    assert [r.run_id for r in scheduler.store.runs()] == ["by-another"]
    released = ScheduleLocks(scheduler.root).try_acquire("daily")
    assert released is not None
    os.close(released)


def test_a_failure_recorded_before_the_child_started_names_its_files_across_midnight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scheduler plans the start at 23:59:59.9 and records the run failed (stopped) before
    the child records its start, which comes after midnight: both name the same files, since
    the child starts its run at the planned time it was given."""
    planned = datetime(2024, 5, 1, 23, 59, 59, 900_000, tzinfo=UTC)
    settings = Settings(home=tmp_path, database_url="postgresql://unused", redis_url="redis://")
    scheduler = Scheduler(settings, ReportSchedules("r.yaml", (SCHEDULE,)), clock=lambda: planned)
    commands: list[list[str]] = []
    real_popen = subprocess.Popen

    def recording(command: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        commands.append(command)
        return real_popen([sys.executable, "-c", "pass"])

    monkeypatch.setattr(subprocess, "Popen", recording)
    started = scheduler.start_run(DUE)
    assert started is not None and started.started_at == planned
    started.process.wait()
    os.close(started.lock_fd)
    (command,) = commands
    given = datetime.fromisoformat(command[command.index("--started-at") + 1])
    assert given == planned

    scheduler.store.fail(DUE.request, started.run_id, started.started_at, "stopped")
    after_midnight = iter([planned + timedelta(seconds=1), planned + timedelta(seconds=2)])
    child_run = RunReport(
        FileReportStore(scheduler.root), _Writes(), _Renders(), clock=lambda: next(after_midnight)
    )(DUE.request, started.run_id, started_at=given)

    recorded = scheduler.store.get(started.run_id)
    assert recorded is not None and recorded.error == "stopped"
    assert (
        child_run.notebook
        == recorded.notebook
        == scheduler.root / "2024-05-01" / (f"{started.run_id}.ipynb")
    )
    assert scheduler.store.existing(recorded.notebook) is not None


class _Writes:
    def execute(self, output: Path, parameters: Mapping[str, Any]) -> None:
        output.write_text("{}")


class _Renders:
    def render(self, notebook: Path, html: Path) -> None:
        html.write_text("<html></html>")
