"""Small report notebooks for the report and scheduler tests, and reading the index of runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat

from eventpulse.application.reports import ReportRun
from eventpulse.infrastructure.report_files import FileReportStore

PARAMETERS = 'since = ""\nuntil = ""\nrule_ids = []\ntitle = "Anomaly report"\n'


def write_notebook(path: Path, body: str) -> Path:
    """A notebook with a `parameters` cell (the report's parameters) and one cell of `body`."""
    notebook = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell(PARAMETERS)
    parameters.metadata["tags"] = ["parameters"]
    notebook.cells = [parameters, nbformat.v4.new_code_cell(body)]
    notebook.metadata["kernelspec"] = {
        "name": "eventpulse",
        "display_name": "EventPulse (Python 3)",
        "language": "python",
    }
    notebook.metadata["language_info"] = {"name": "python"}
    nbformat.write(notebook, path)
    return path


def ok_notebook(folder: Path) -> Path:
    return write_notebook(
        folder / "ok.ipynb", "print(f'{title}: {since} .. {until}, rules {rule_ids}')"
    )


def failing_notebook(folder: Path) -> Path:
    return write_notebook(
        folder / "failing.ipynb",
        "print('before the failure')\nraise RuntimeError(f'no report for {until}')",
    )


def runs_of(root: Path, schedule: str | None = None) -> list[ReportRun]:
    """The runs in the index, oldest first (of one schedule when given)."""
    runs = FileReportStore(root).runs(limit=10_000)
    chosen = [r for r in runs if schedule is None or r.request.schedule == schedule]
    return sorted(chosen, key=lambda run: (run.started_at, run.run_id))


def describe(runs: list[ReportRun]) -> list[dict[str, Any]]:
    """What an assertion message should show of some runs."""
    return [
        {
            "run_id": r.run_id,
            "schedule": r.request.schedule,
            "until": r.request.until.isoformat(),
            "status": str(r.status),
            "started_at": r.started_at.isoformat(),
            "finished_at": None if r.finished_at is None else r.finished_at.isoformat(),
            "error": r.error,
        }
        for r in runs
    ]
