"""`RunReport` with fakes: a run is recorded as running, then ok or failed with its reason; a
failed execution still renders what ran; a rendering failure keeps the run's record."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from eventpulse.application.reports import (
    ReportFailed,
    ReportRequest,
    ReportRun,
    RunReport,
    RunStatus,
)
from tests.report_support import FolderStore

T0 = datetime(2026, 1, 5, 7, 0, tzinfo=UTC)
REQUEST = ReportRequest(
    since=datetime(2025, 12, 29, tzinfo=UTC),
    until=datetime(2026, 1, 5, tzinfo=UTC),
    rule_ids=("machine-temperature-drop",),
    title="Weekly",
    schedule="weekly",
)


@dataclass
class FakeExecutor:
    fail: str | None = None
    write: bool = True
    calls: list[tuple[Path, dict[str, Any]]] = field(default_factory=list)

    def execute(self, output: Path, parameters: Mapping[str, Any]) -> None:
        self.calls.append((output, dict(parameters)))
        if self.write:
            output.write_text("executed" + (" up to the failure" if self.fail else ""))
        if self.fail:
            raise ReportFailed(self.fail)


@dataclass
class FakeRenderer:
    fail: Exception | None = None
    rendered: list[tuple[Path, Path]] = field(default_factory=list)

    def render(self, notebook: Path, html: Path) -> None:
        if self.fail is not None:
            raise self.fail
        html.write_text(f"<html>{notebook.read_text()}</html>")
        self.rendered.append((notebook, html))


def ticking() -> Iterator[datetime]:
    moment = T0
    while True:
        yield moment
        moment += timedelta(seconds=2.5)


def run_report(
    tmp_path: Path, executor: FakeExecutor, renderer: FakeRenderer
) -> tuple[ReportRun, FolderStore]:
    store = FolderStore(tmp_path)
    clock = ticking()
    run = RunReport(store, executor, renderer, clock=lambda: next(clock))(REQUEST, "r1")
    return run, store


def test_a_run_executes_with_the_parameters_renders_and_is_recorded_ok(tmp_path: Path) -> None:
    executor, renderer = FakeExecutor(), FakeRenderer()

    run, store = run_report(tmp_path, executor, renderer)

    assert executor.calls == [
        (
            tmp_path / "r1.ipynb",
            {
                "since": "2025-12-29T00:00:00+00:00",
                "until": "2026-01-05T00:00:00+00:00",
                "rule_ids": ["machine-temperature-drop"],
                "title": "Weekly",
            },
        )
    ]
    assert [r.status for r in store.started] == [RunStatus.RUNNING]
    assert store.finished == [run]
    assert (run.status, run.error, run.html) == (RunStatus.OK, None, tmp_path / "r1.html")
    assert (run.started_at, run.finished_at, run.duration_s) == (
        T0,
        T0 + timedelta(seconds=2.5),
        2.5,
    )
    assert (tmp_path / "r1.html").read_text() == "<html>executed</html>"


def test_a_failing_execution_is_recorded_failed_and_still_rendered(tmp_path: Path) -> None:
    reason = "cell 5 (In [4]: rp.show(...)) raised ValueError: boom"

    run, store = run_report(tmp_path, FakeExecutor(fail=reason), FakeRenderer())

    assert (run.status, run.error) == (RunStatus.FAILED, reason)
    assert store.finished == [run]
    assert run.html == tmp_path / "r1.html"
    assert (tmp_path / "r1.html").read_text() == "<html>executed up to the failure</html>"


def test_an_execution_that_left_no_notebook_renders_nothing(tmp_path: Path) -> None:
    renderer = FakeRenderer()

    run, _ = run_report(tmp_path, FakeExecutor(fail="no such kernel", write=False), renderer)

    assert (run.status, run.error, run.html) == (RunStatus.FAILED, "no such kernel", None)
    assert renderer.rendered == []


def test_a_renderer_that_raises_leaves_a_failed_run_without_html(tmp_path: Path) -> None:
    run, store = run_report(tmp_path, FakeExecutor(), FakeRenderer(fail=OSError("disk full")))

    assert (run.status, run.html) == (RunStatus.FAILED, None)
    assert run.error == "rendering the HTML failed: disk full"
    assert store.finished == [run]


def test_the_execution_reason_wins_over_a_rendering_failure(tmp_path: Path) -> None:
    run, _ = run_report(
        tmp_path, FakeExecutor(fail="timed out"), FakeRenderer(fail=ValueError("bad output"))
    )

    assert (run.status, run.error, run.html) == (RunStatus.FAILED, "timed out", None)
