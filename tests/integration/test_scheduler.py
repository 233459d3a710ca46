"""A real `eventpulse scheduler` process on two schedules firing every few seconds (6-field
cron, seconds first), each run a real `eventpulse report` child executing a notebook with
papermill on the `eventpulse` kernel.

`good` runs the configured report notebook (`EVENTPULSE_REPORT_NOTEBOOK`: a small one that
prints its parameters); `bad` names, with the schedule's own `notebook:` key, a notebook whose
second cell raises. Runs happen and are recorded with status and duration, a failed run is
recorded as failed and the next run of the same schedule still happens, no two runs of one
schedule overlap, each fire time runs at most once — with two scheduler processes on the same
reports folder — and SIGTERM stops the schedulers cleanly with every run finished in the index.
"""

from __future__ import annotations

import itertools
import signal
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from eventpulse.application.reports import ReportRun, RunStatus
from eventpulse.infrastructure.settings import Settings
from eventpulse.interfaces.lab import register_kernel
from tests.conftest import settings_env
from tests.integration.report_support import describe, failing_notebook, ok_notebook, runs_of
from tests.support import product_env, spawn, wait_until

pytestmark = pytest.mark.integration

CONFIG = """
schedules:
  good:
    cron: "*/2 * * * * *"     # every 2 seconds
    period: 1h
    title: Good report
    rule_ids: [cpu-high]
  bad:
    cron: "1-59/3 * * * * *"  # every 3 seconds, at 1, 4, 7, ...
    period: 1h
    title: Bad report
    notebook: failing.ipynb   # this schedule's own notebook: it raises
"""


def _finished(root: Path, schedule: str, count: int) -> list[ReportRun] | None:
    runs = [r for r in runs_of(root, schedule) if r.status is not RunStatus.RUNNING]
    return runs if len(runs) >= count else None


def test_scheduled_runs_happen_are_recorded_and_a_failure_does_not_stop_the_next_run(
    settings: Settings, tmp_path: Path
) -> None:
    register_kernel()
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    config = notebooks / "reports.yaml"
    config.write_text(CONFIG)
    failing_notebook(notebooks)
    root = settings.home / "reports"
    env = product_env(settings_env(settings)) | {
        "EVENTPULSE_REPORTS": str(config),
        "EVENTPULSE_REPORT_NOTEBOOK": str(ok_notebook(notebooks)),
        "EVENTPULSE_REPORT_RUN_TIMEOUT_S": "60",
        "EVENTPULSE_SCHEDULER_GRACE_S": "30",
    }
    # Two schedulers on one reports folder: the schedule locks and the index keep each fire
    # time to one run, and a schedule's runs apart, across processes too.
    logs = [tmp_path / "scheduler-1.log", tmp_path / "scheduler-2.log"]
    schedulers = [spawn(["scheduler"], env, log) for log in logs]
    try:
        wait_until(
            lambda: _finished(root, "good", 2) and _finished(root, "bad", 2),
            timeout=120,
            interval=0.2,
            what=f"finished runs of each schedule (see {logs})",
        )
    finally:
        for scheduler in schedulers:
            scheduler.send_signal(signal.SIGTERM)  # both at once: neither starts a new run
        # Once: a second SIGTERM during the interpreter's shutdown (its handlers are reset
        # to the default then) would end the process by the signal, not by its own stop.
        codes = [_exit_code(scheduler, timeout=60) for scheduler in schedulers]
    assert codes == [0, 0], [log.read_text() for log in logs]

    runs = runs_of(root)
    assert {r.status for r in runs} <= {RunStatus.OK, RunStatus.FAILED}, describe(runs)
    for run in runs:  # every run finished in the index, with its duration
        assert run.finished_at is not None and run.duration_s is not None, describe([run])
        assert run.duration_s > 0
        assert run.finished_at - run.started_at == timedelta(seconds=run.duration_s)
        assert run.notebook.exists(), "the executed notebook is kept, also of a failed run"

    good, bad = runs_of(root, "good"), runs_of(root, "bad")
    assert len(good) >= 2 and len(bad) >= 2
    assert {r.status for r in good} == {RunStatus.OK}, describe(good)
    assert {r.status for r in bad} == {RunStatus.FAILED}, describe(bad)
    for run in bad:
        assert run.error is not None and "raised RuntimeError: no report for" in run.error
    # The next run of the failing schedule happened after its failed run had ended.
    first_failure = bad[0]
    assert first_failure.finished_at is not None
    assert bad[1].started_at > first_failure.finished_at

    for schedule_runs, step, offset in ((good, 2, 0), (bad, 3, 1)):
        _never_overlap(schedule_runs)
        fire_times = [r.request.until for r in schedule_runs]
        assert len(set(fire_times)) == len(fire_times), "a fire time ran twice"
        assert all(t.second % step == offset and t.microsecond == 0 for t in fire_times)
        assert {r.request.until - r.request.since for r in schedule_runs} == {timedelta(hours=1)}
    assert good[0].request.title == "Good report" and good[0].request.rule_ids == ("cpu-high",)
    assert good[0].html is not None and good[0].html.exists()
    output = good[0].notebook.read_text()
    assert "Good report: " in output and "rules ['cpu-high']" in output

    logged = [line for log in logs for line in _scheduler_lines(log)]
    outcomes = {(line["schedule"], line["outcome"]) for line in logged if "outcome" in line}
    assert ("good", "ok") in outcomes and ("bad", "failed") in outcomes
    assert any(
        "another scheduler runs it" in line["message"] or "already in the index" in line["message"]
        for line in logged
    ), "the two schedulers met on a fire time"
    counted = _report_runs(settings.home / "metrics")
    assert counted[("good", "ok")] >= 2 and counted[("bad", "failed")] >= 2
    assert counted[("good", "ok")] == len(good) and counted[("bad", "failed")] == len(bad)


def _exit_code(process: subprocess.Popen[bytes], timeout: float) -> int | None:
    """The process's exit code once it ends; None (and killed) if it takes longer."""
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return None


def _report_runs(metrics_dir: Path) -> dict[tuple[str, str], float]:
    """`eventpulse_report_runs_total` by (schedule, outcome), from the processes' files."""
    paths = [str(path) for path in metrics_dir.glob("counter_*.db")]
    counted: dict[tuple[str, str], float] = {}
    for metric in MultiProcessCollector.merge(paths):  # type: ignore[no-untyped-call]
        for sample in metric.samples:
            if sample.name == "eventpulse_report_runs_total":
                key = (sample.labels["schedule"], sample.labels["outcome"])
                counted[key] = counted.get(key, 0) + sample.value
    return counted


def _never_overlap(runs: list[ReportRun]) -> None:
    for before, after in itertools.pairwise(runs):
        assert before.finished_at is not None
        assert after.started_at >= before.finished_at, describe([before, after])


def _scheduler_lines(log: Path) -> list[dict[str, Any]]:
    """The scheduler's own JSON log lines (its report children write to the same stream)."""
    found = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            document = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(document, dict) and document.get("role") == "scheduler":
            found.append(document)
    assert found, "the scheduler logs JSON lines"
    return found
