"""A scheduled run that cannot start — the index unreadable when the scheduler checks it, the
child process refused for any reason — is recorded failed for its fire time with the reason,
logged and counted; the schedule's lock is released and the scheduler carries on."""

from __future__ import annotations

import logging
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from eventpulse.application.report_schedules import Due, Schedule
from eventpulse.application.reports import RunStatus
from eventpulse.infrastructure.report_schedule_config import ReportSchedules
from eventpulse.infrastructure.settings import Settings
from eventpulse.interfaces.report_children import ScheduleLocks
from eventpulse.interfaces.scheduler import Scheduler

FIRE = datetime(2024, 5, 1, 6, 0, tzinfo=UTC)
SCHEDULE = Schedule("daily", "0 6 * * *", timedelta(days=1), (), "Daily")
DUE = Due(SCHEDULE, FIRE)


def scheduler(home: Path) -> Scheduler:
    settings = Settings(home=home, database_url="postgresql://unused", redis_url="redis://")
    return Scheduler(settings, ReportSchedules("r.yaml", (SCHEDULE,)))


def lock_is_free(root: Path) -> bool:
    fd = ScheduleLocks(root).try_acquire("daily")
    if fd is None:
        return False
    os.close(fd)
    return True


def test_an_index_that_cannot_be_read_at_start_records_the_fire_time_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    running = scheduler(tmp_path)

    def unreadable() -> dict[str, datetime]:
        raise RuntimeError("index unreadable")

    monkeypatch.setattr(running.store, "last_fire_times", unreadable)
    with caplog.at_level(logging.ERROR, logger="eventpulse.scheduler"):
        assert running.start_run(DUE) is None  # no exception: the scheduler carries on

    monkeypatch.undo()
    (run,) = running.store.runs()
    assert run.status is RunStatus.FAILED and run.request == DUE.request
    assert run.error == "the run could not start: RuntimeError: index unreadable"
    assert running.store.last_fire_times() == {"daily": FIRE}  # the fire time is not lost
    assert running.stats.outcomes[("daily", "failed")] == 1
    assert lock_is_free(running.root)
    assert "index unreadable" in caplog.text and run.run_id in caplog.text


@pytest.mark.parametrize(
    "error", [OSError(8, "Exec format error"), ValueError("bad fds"), subprocess.SubprocessError()]
)
def test_a_child_that_cannot_be_started_is_recorded_failed_and_the_lock_released(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    running = scheduler(tmp_path)

    def refuse(*args: object, **kwargs: object) -> subprocess.Popen[bytes]:
        raise error

    monkeypatch.setattr(subprocess, "Popen", refuse)
    assert running.start_run(DUE) is None

    (run,) = running.store.runs()
    assert run.status is RunStatus.FAILED and run.request.until == FIRE
    assert run.error is not None and run.error.startswith("the run could not start: ")
    assert type(error).__name__ in run.error
    assert lock_is_free(running.root)
    assert running.stats.outcomes[("daily", "failed")] == 1


def test_a_failure_to_record_the_failure_is_logged_and_the_scheduler_carries_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    running = scheduler(tmp_path)

    def broken(*args: object, **kwargs: object) -> object:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(running.store, "last_fire_times", broken)
    monkeypatch.setattr(running.store, "fail", broken)
    with caplog.at_level(logging.ERROR, logger="eventpulse.scheduler"):
        assert running.start_run(DUE) is None
    assert "could not be recorded" in caplog.text
    assert lock_is_free(running.root)
    assert running.stats.outcomes[("daily", "failed")] == 1
