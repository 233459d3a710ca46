"""Anomaly reports: one run executes the parameterised report notebook over a time range, renders
it to self-contained HTML and records the run (running → ok | failed, with its duration).

A failed execution still keeps the executed notebook (the cells up to the failure) and renders
what it can; the run is recorded as failed with the reason, and the caller exits non-zero.
The ports keep papermill, nbconvert and the file layout out of this module.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from eventpulse.domain.errors import EventPulseError

DEFAULT_TITLE = "Anomaly report"


class ReportFailed(EventPulseError):
    """The report notebook did not run to its end (a cell raised, a timeout, no kernel)."""


class RunStatus(StrEnum):
    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ReportRequest:
    """What one report covers: `since <= ts < until` (timezone-aware), the rules (empty: all),
    its title, and the schedule that asked for it (None: run by hand)."""

    since: datetime
    until: datetime
    rule_ids: tuple[str, ...] = ()
    title: str = DEFAULT_TITLE
    schedule: str | None = None

    def parameters(self) -> dict[str, Any]:
        """The notebook's `parameters` cell values (JSON-safe)."""
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "rule_ids": list(self.rule_ids),
            "title": self.title,
        }


@dataclass(frozen=True, slots=True)
class ReportRun:
    """One run as recorded in the index. `notebook` and `html` are where its files are (or will
    be); `html` is None when nothing could be rendered. While the run is `running` its files
    are not final: papermill rewrites the notebook in place after each cell, and the HTML is
    written at the end."""

    run_id: str
    request: ReportRequest
    status: RunStatus
    started_at: datetime
    notebook: Path
    html: Path | None
    finished_at: datetime | None = None
    duration_s: float | None = None
    error: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def running(self) -> bool:
        """Whether the run is still going (its files may be half-written)."""
        return self.status is RunStatus.RUNNING


def new_run_id(now: datetime) -> str:
    """Sortable by start time, unique: `20261127T101500Z-3f2a9c`."""
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


class ReportStore(Protocol):
    """Where runs' files live and the index of runs."""

    def start(self, request: ReportRequest, run_id: str, started_at: datetime) -> ReportRun:
        """Record a new run as running, with the paths of its files."""
        ...

    def finish(self, run: ReportRun) -> None:
        """Record the run's outcome (replaces its running record)."""
        ...

    def runs(self, limit: int = 100) -> Sequence[ReportRun]:
        """The latest runs, newest first."""
        ...

    def get(self, run_id: str) -> ReportRun | None: ...


class NotebookExecutor(Protocol):
    def execute(self, output: Path, parameters: Mapping[str, Any]) -> None:
        """Run the report notebook with `parameters`, writing the executed notebook to `output`
        (also when it fails); `ReportFailed` with the reason when it did not run to its end."""
        ...


class HtmlRenderer(Protocol):
    def render(self, notebook: Path, html: Path) -> None:
        """Self-contained HTML of an executed notebook, without code; raises on failure."""
        ...


class RunReport:
    def __init__(
        self,
        store: ReportStore,
        executor: NotebookExecutor,
        renderer: HtmlRenderer,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._executor = executor
        self._renderer = renderer
        self._clock = clock

    def __call__(
        self, request: ReportRequest, run_id: str | None = None, started_at: datetime | None = None
    ) -> ReportRun:
        """Run the report; `started_at` is when the run started if someone else started it (the
        scheduler, which may record the run before this does: both then name the same files)."""
        started = self._clock() if started_at is None else started_at
        run = self._store.start(request, run_id or new_run_id(started), started)
        error: str | None = None
        try:
            self._executor.execute(run.notebook, request.parameters())
        except ReportFailed as exc:
            error = str(exc)
        html = run.html
        if html is not None and run.notebook.exists():
            try:
                self._renderer.render(run.notebook, html)
            except Exception as exc:  # a broken output must not lose the run's record
                html = None
                error = error or f"rendering the HTML failed: {exc}"
        else:
            html = None
        finished = self._clock()
        run = replace(
            run,
            status=RunStatus.OK if error is None else RunStatus.FAILED,
            html=html,
            finished_at=finished,
            duration_s=(finished - started).total_seconds(),
            error=error,
        )
        self._store.finish(run)
        return run
