"""The runs of anomaly reports on the filesystem (the `ReportIndex` of application/report_index.py).

Layout under the root (`EVENTPULSE_HOME/reports`, or `eventpulse report --out DIR`):

    index.jsonl                        one JSON object per line, appended, never rewritten
    2026-11-27/<run_id>.ipynb          the executed notebook (kept when the run failed)
    2026-11-27/<run_id>.html           the rendered report (absent when nothing rendered)
    .locks/                            lock files (the scheduler's, one per schedule)

The folder is the UTC date the run started. The index has one line per state change of a run:
`running` when it starts, then `ok` or `failed`; each line is the whole run (request, times,
paths relative to the root, error), and readers fold the lines by `run_id`, the last one
winning, except that a finished run is final (a later `running` line for it is ignored).

- **Concurrent writers** (the scheduler, its report children, a CLI run by hand) append under an
  exclusive lock of the index, one `write` per line, so lines never interleave; a line torn by a
  crash is ended by the next writer, and readers skip any line that is not a run record
  (infrastructure/report_index_file.py).
- **Reading is incremental and cached.** A store parses each line once: a read costs one `stat`
  when nothing was appended, and the bytes appended since otherwise; a list is a walk from the
  newest run (or from a page's cursor) that stops at its limit.
- **Abandoned runs.** A run still `running` whose writer is gone reads as `failed` with the error
  `abandoned: …` (infrastructure/report_writers.py); readers do not write, `settle_abandoned`
  (the scheduler, at start) records them. The scheduler records its own children's end
  (interfaces/scheduler.py), so abandoned runs come only from a writer killed together with
  whatever watched it.
- **Paths.** Run ids are checked (application/report_index.py) before they name a file, and a
  path read from the index is used only if it stays under the root
  (infrastructure/report_records.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Final

from eventpulse.application.report_index import ReportQuery, valid_run_id
from eventpulse.application.reports import ReportRequest, ReportRun, RunStatus
from eventpulse.infrastructure.report_index_file import Entry, FoldedIndex, append_line
from eventpulse.infrastructure.report_records import parse_run, run_line
from eventpulse.infrastructure.report_writers import Writer, abandoned

INDEX: Final = "index.jsonl"
LOCKS: Final = ".locks"


def reports_root(home: Path) -> Path:
    """Where `EVENTPULSE_HOME`'s reports live."""
    return home.resolve() / "reports"


class FileReportStore:
    """Runs' files and the append-only index under `root` (created on first write). One store
    may be read from several threads."""

    def __init__(
        self,
        root: Path,
        *,
        stale_after_s: float | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.root = root
        self.index = root / INDEX
        self._stale_after_s = stale_after_s
        self._clock = clock
        self._folded = FoldedIndex(self.index, partial(parse_run, root=root))
        self._lock = threading.Lock()

    # --- writing ---

    def start(self, request: ReportRequest, run_id: str, started_at: datetime) -> ReportRun:
        if not valid_run_id(run_id):
            raise ValueError(f"not a valid run id: {run_id!r}")
        started_at = started_at.astimezone(UTC)
        folder = self.root / f"{started_at:%Y-%m-%d}"
        folder.mkdir(parents=True, exist_ok=True)
        run = ReportRun(
            run_id=run_id,
            request=request,
            status=RunStatus.RUNNING,
            started_at=started_at,
            notebook=folder / f"{run_id}.ipynb",
            html=folder / f"{run_id}.html",
        )
        self._append(run)
        return run

    def finish(self, run: ReportRun) -> None:
        self._append(run)

    def fail(
        self,
        request: ReportRequest,
        run_id: str,
        started_at: datetime,
        reason: str,
        *,
        finished_at: datetime | None = None,
    ) -> bool:
        """Record the run as failed with `reason` unless it is recorded as finished already
        (and as started first if it is not recorded at all): for a run whose process ended
        without recording its outcome. Whether this call recorded it."""
        run = self.recorded(run_id)
        if run is not None and run.status is not RunStatus.RUNNING:
            return False
        if run is None:
            run = self.start(request, run_id, started_at)
        end = (finished_at or self._clock()).astimezone(UTC)
        html = self.existing(run.html)
        self.finish(
            replace(
                run,
                status=RunStatus.FAILED,
                html=None if html is None else run.html,
                finished_at=end,
                duration_s=max(0.0, (end - run.started_at).total_seconds()),
                error=reason,
            )
        )
        return True

    def settle_abandoned(self) -> list[str]:
        """Record every abandoned run (see the module's docstring) as failed, with the reason
        readers give it, in one pass over the runs still recorded `running`; their ids."""
        with self._lock:
            self._folded.refresh()
            seen = [self._as_read(entry) for entry in self._folded.running()]
        settled = [run for run in seen if run.status is RunStatus.FAILED]
        for run in settled:
            self.finish(run)
        return [run.run_id for run in settled]

    def _append(self, run: ReportRun) -> None:
        append_line(self.index, run_line(run, self.root, Writer.current()))

    # --- reading ---

    def get(self, run_id: str) -> ReportRun | None:
        entry = self._entry(run_id)
        return None if entry is None else self._as_read(entry)

    def recorded(self, run_id: str) -> ReportRun | None:
        """The run as its last index line says (a `running` run is not checked for being
        abandoned)."""
        entry = self._entry(run_id)
        return None if entry is None else entry.run

    def runs(self, limit: int = 100) -> Sequence[ReportRun]:
        return self.query(ReportQuery(limit))

    def query(self, query: ReportQuery) -> Sequence[ReportRun]:
        chosen: list[ReportRun] = []
        with self._lock:
            self._folded.refresh()
            for entry in self._folded.newest_first(query.before):
                if len(chosen) >= query.limit:
                    break
                if query.schedule is not None and entry.run.request.schedule != query.schedule:
                    continue
                run = self._as_read(entry)
                if query.status is None or run.status is query.status:
                    chosen.append(run)
        return chosen

    def last_fire_times(self) -> dict[str, datetime]:
        with self._lock:
            self._folded.refresh()
            return self._folded.latest_fire_times()

    def existing(self, path: Path | None) -> Path | None:
        """`path` if it is a file under the root (a run's notebook or HTML), else None."""
        if path is None:
            return None
        try:
            resolved = path.resolve()
        except OSError:
            return None
        if not resolved.is_relative_to(self.root.resolve()) or not resolved.is_file():
            return None
        return resolved

    def _entry(self, run_id: str) -> Entry | None:
        if not valid_run_id(run_id):
            return None
        with self._lock:
            self._folded.refresh()
            return self._folded.get(run_id)

    def _as_read(self, entry: Entry) -> ReportRun:
        """The run as readers see it: a `running` run whose writer is gone is failed."""
        run = entry.run
        if run.status is not RunStatus.RUNNING:
            return run
        reason = abandoned(entry.writer, run.started_at, self._clock(), self._stale_after_s)
        return run if reason is None else replace(run, status=RunStatus.FAILED, error=reason)
