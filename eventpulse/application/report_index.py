"""Reading the runs of anomaly reports: run ids, the index query behind `GET /reports`, pages,
and the files of a run that can be served.

Runs are listed newest first, by (`started_at`, `run_id`) descending. A page's `next_cursor`
encodes that position of its last run (application/queries.py's cursor, kind `r`); the next page
holds the runs strictly older. Runs are appended, never removed, so paging never repeats one.

A run's notebook and HTML are served once the run has ended: while it runs, papermill rewrites
the notebook in place (a reader could get half a file) and the HTML is not written yet, so they
are not offered, and asking for them is a `Conflict` naming the run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final, Literal, Protocol

from eventpulse.application.queries import DEFAULT_LIMIT, MAX_LIMIT, Page, decode_cursor
from eventpulse.application.queries import encode_cursor as _encode
from eventpulse.application.reports import ReportRun, ReportStore, RunStatus
from eventpulse.domain.errors import Conflict, FieldError, InvalidInput, NotFound

RUN_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")
"""What a run id may be: it names files, so no dots, slashes or other path syntax."""

_CURSOR_KIND: Final = "r"

FileKind = Literal["html", "notebook"]


def valid_run_id(run_id: str) -> bool:
    return RUN_ID.fullmatch(run_id) is not None


@dataclass(frozen=True, slots=True)
class ReportQuery:
    """At most `limit` runs, newest first, strictly older than `before` (started_at, run_id),
    with that status and schedule when given (the status as readers see it: an abandoned run
    is failed)."""

    limit: int
    status: RunStatus | None = None
    schedule: str | None = None
    before: tuple[datetime, str] | None = None


class ReportIndex(ReportStore, Protocol):
    """A `ReportStore` that can also be queried (the API's list, the scheduler's catch-up)."""

    def query(self, query: ReportQuery) -> Sequence[ReportRun]: ...

    def existing(self, path: Path | None) -> Path | None:
        """`path` (a run's notebook or HTML) if that file exists in the store, else None."""
        ...

    def last_fire_times(self) -> Mapping[str, datetime]:
        """For each schedule with a recorded run, the latest `until` among its runs (the
        latest fire time it ran for)."""
        ...


def position(run: ReportRun) -> tuple[datetime, str]:
    return run.started_at, run.run_id


def encode_cursor(run: ReportRun) -> str:
    return _encode(_CURSOR_KIND, run.started_at, run.run_id)


def list_reports(
    index: ReportIndex,
    *,
    status: str | None = None,
    schedule: str | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[ReportRun]:
    """A page of runs, newest first; `InvalidInput` names each bad argument."""
    errors: list[FieldError] = []
    if not 1 <= limit <= MAX_LIMIT:
        errors.append(FieldError("limit", f"must be between 1 and {MAX_LIMIT}"))
    wanted: RunStatus | None = None
    if status is not None:
        try:
            wanted = RunStatus(status)
        except ValueError:
            errors.append(FieldError("status", "expected one of running, ok, failed"))
    before = None
    if cursor is not None:
        before = decode_cursor(cursor, _CURSOR_KIND)
        if before is None:
            errors.append(FieldError("cursor", "expected the next_cursor of a previous page"))
    if errors:
        raise InvalidInput(errors, "invalid query")
    rows = list(index.query(ReportQuery(limit + 1, wanted, schedule, before)))
    items = rows[:limit]
    more = len(rows) > limit
    return Page(items, encode_cursor(items[-1]) if more else None)


def find_report(index: ReportStore, run_id: str) -> ReportRun:
    """The run with this id; `NotFound` naming it otherwise (also for ids no run can have)."""
    found = index.get(run_id) if valid_run_id(run_id) else None
    if found is None:
        raise NotFound(f"no report run {run_id!r}")
    return found


def served_file(index: ReportIndex, run: ReportRun, kind: FileKind) -> Path | None:
    """The run's HTML or notebook if it can be served: the run has ended and the file exists
    (None otherwise: the API gives no link to it)."""
    if run.running:
        return None
    return index.existing(run.html if kind == "html" else run.notebook)


def report_file(index: ReportIndex, run_id: str, kind: FileKind) -> Path:
    """The file to serve for `GET /reports/{run_id}/{kind}`: `NotFound` naming the run when it
    or its file does not exist, `Conflict` while the run is still running."""
    run = find_report(index, run_id)
    if run.running:
        raise Conflict(f"report run {run_id!r} is still running: its {kind} is not ready yet")
    path = served_file(index, run, kind)
    if path is None:
        raise NotFound(f"report run {run_id!r} has no {kind} (status {run.status})")
    return path
