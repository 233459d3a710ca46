"""One line of the report index as a run and back: the whole run (request, status, times,
paths relative to the root, error) and its writer (infrastructure/report_writers.py).

A path read from a line is used only if it names that run's file and stays under the root; run
ids are checked (application/report_index.py) before they name a file.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import orjson

from eventpulse.application.report_index import valid_run_id
from eventpulse.application.reports import ReportRequest, ReportRun, RunStatus
from eventpulse.infrastructure.report_writers import Writer

VERSION: Final = 1


def run_line(run: ReportRun, root: Path, writer: Writer) -> bytes:
    """The index line recording `run` as it is now, ending with a newline."""
    request = run.request
    record = {
        "v": VERSION,
        "run_id": run.run_id,
        "status": str(run.status),
        "title": request.title,
        "since": request.since.astimezone(UTC).isoformat(),
        "until": request.until.astimezone(UTC).isoformat(),
        "rule_ids": list(request.rule_ids),
        "schedule": request.schedule,
        "started_at": run.started_at.astimezone(UTC).isoformat(),
        "finished_at": None if run.finished_at is None else run.finished_at.isoformat(),
        "duration_s": run.duration_s,
        "error": run.error,
        "notebook": _relative(run.notebook, root),
        "html": None if run.html is None else _relative(run.html, root),
        "writer": writer.as_dict(),
        "extra": dict(run.extra),
    }
    return orjson.dumps(record) + b"\n"


def parse_run(record: Mapping[str, Any], root: Path) -> ReportRun:
    """The run of a decoded line; ValueError (or KeyError, TypeError) if it is not one."""
    run_id = record["run_id"]
    if not isinstance(run_id, str) or not valid_run_id(run_id):
        raise ValueError("invalid run id")
    request = ReportRequest(
        since=_time(record["since"]),
        until=_time(record["until"]),
        rule_ids=tuple(str(r) for r in record.get("rule_ids") or ()),
        title=str(record["title"]),
        schedule=record.get("schedule"),
    )
    finished = record.get("finished_at")
    duration = record.get("duration_s")
    notebook = _path(record.get("notebook"), root, run_id, ".ipynb")
    if notebook is None:
        raise ValueError("no notebook path")
    return ReportRun(
        run_id=run_id,
        request=request,
        status=RunStatus(record["status"]),
        started_at=_time(record["started_at"]),
        notebook=notebook,
        html=_path(record.get("html"), root, run_id, ".html"),
        finished_at=None if finished is None else _time(finished),
        duration_s=None if duration is None else float(duration),
        error=record.get("error"),
        extra=dict(record.get("extra") or {}),
    )


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _path(relative: Any, root: Path, run_id: str, suffix: str) -> Path | None:
    """A path of the index, if it names this run's file under the root."""
    if not isinstance(relative, str):
        return None
    path = root / relative
    if path.name != f"{run_id}{suffix}" or ".." in Path(relative).parts:
        return None
    if Path(relative).is_absolute() and not path.is_relative_to(root):
        return None
    return path


def _time(text: Any) -> datetime:
    if not isinstance(text, str):
        raise TypeError("expected a timestamp")
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("timestamp without an offset")
    return moment.astimezone(UTC)
