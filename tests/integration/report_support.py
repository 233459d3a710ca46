"""For the report and scheduler tests: a product holding a day of payments with anomalies and
`eventpulse report` run over that day, small report notebooks, and reading the index of runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import psycopg

from eventpulse.application.reports import ReportRun
from eventpulse.infrastructure.report_files import FileReportStore
from tests.integration.conftest import Product, post_batches
from tests.integration.live_support import stored_anomaly_ids, wait_stored_and_evaluated
from tests.integration.payments import start_with_rule

ROOT = Path(__file__).resolve().parents[2]
SINCE, UNTIL = "2024-03-01T00:00:00Z", "2024-03-02T00:00:00Z"
PARAMETERS = 'since = ""\nuntil = ""\nrule_ids = []\ntitle = "Anomaly report"\n'


def payment_events() -> list[dict[str, Any]]:
    """300 events on 1 March 2024, one a minute: every tenth a failed payment."""
    return [
        {
            "event_type": "payment_failed" if i % 10 == 0 else "payment",
            "source": f"shop-{i % 3}",
            "timestamp": f"2024-03-01T{i // 60:02d}:{i % 60:02d}:00Z",
            "payload": {"amount": i},
        }
        for i in range(300)
    ]


def start_with_anomalies(product: Product, db: psycopg.Connection[Any]) -> str:
    """The product's API and a worker with the failed-payment rule, the `payment_events`
    posted, stored and evaluated (30 anomalies); the API's URL."""
    api = start_with_rule(product)
    post_batches(api, payment_events())
    wait_stored_and_evaluated(db, 300)
    assert len(stored_anomaly_ids(db, "payment-failed")) == 30
    return api


def report_command(product: Product, *args: str) -> subprocess.CompletedProcess[str]:
    """`eventpulse report --since SINCE --until UNTIL *args` against the product's API."""
    env = product.env | {"EVENTPULSE_API_URL": product.api_url, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "eventpulse", "report", "--since", SINCE, "--until", UNTIL, *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


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
