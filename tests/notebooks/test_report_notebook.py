"""The anomaly report notebook, executed by `PapermillExecutor` on the `eventpulse` kernel and
rendered by `NbconvertRenderer`, as `RunReport` runs it: against the live stack seeded with the
NAB sample (anomalies of three rules, delivery records added here), over an empty range, and
when it fails (a cell that raises, a cell over its timeout, a missing kernel)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import nbformat
import psycopg
import pytest
from psycopg.types.json import Jsonb

from eventpulse.application.reports import ReportFailed, ReportRequest, RunStatus
from eventpulse.infrastructure.papermill_reports import PapermillExecutor
from eventpulse.infrastructure.report_html import NbconvertRenderer
from eventpulse.interfaces.lab import register_kernel
from eventpulse.workbench.reporting import NO_ANOMALIES, NO_DELIVERIES
from tests.report_support import (
    REPORT_NOTEBOOK,
    Page,
    code_lines,
    external_references,
    plotly_outputs,
    run_report,
)
from tests.seeded_stack import SeededStack

SINCE = datetime(2013, 12, 1, tzinfo=UTC)
UNTIL = datetime(2014, 3, 1, tzinfo=UTC)
CHANNELS = ("report-test-slack", "report-test-mail")
_INSERT_DELIVERY = """
INSERT INTO notification_deliveries
    (anomaly_id, channel, route, attempt, status, error, latency_ms, details)
VALUES (%s, %s, 'report-test', %s, %s, %s, 1.0, %s)
"""


@pytest.fixture
def deliveries(notebook_stack: SeededStack) -> Iterator[dict[str, int]]:
    """Delivery records for three anomalies of the range (removed afterwards); the number of
    anomalies per rule in the range, as PostgreSQL counts them."""
    with psycopg.connect(notebook_stack.settings.database_url or "", autocommit=True) as db:
        counted = db.execute(
            "SELECT rule_id, count(*) FROM anomalies WHERE ts >= %s AND ts < %s GROUP BY 1",
            (SINCE, UNTIL),
        ).fetchall()
        ids = [
            row[0]
            for row in db.execute(
                "SELECT anomaly_id FROM anomalies WHERE ts >= %s AND ts < %s"
                " ORDER BY ts, anomaly_id LIMIT 3",
                (SINCE, UNTIL),
            )
        ]
        slack, mail = CHANNELS
        rows = [
            (ids[0], slack, 1, "sent", None),
            (ids[0], slack, 2, "duplicate", None),  # sent again after a crash: still sent
            (ids[1], slack, 1, "failed", "HTTP 503"),
            (ids[1], slack, 2, "sent", None),
            (ids[2], slack, 1, "failed", "HTTP 503"),
            (ids[2], slack, 2, "dead", "HTTP 404"),
            (ids[0], mail, 1, "failed", "connection refused"),  # pending: being retried
            (ids[1], mail, 1, "silenced", None),
            (ids[2], mail, 1, "digested", None),  # part of a digest that was sent
        ]
        with db.cursor() as cur:
            cur.executemany(_INSERT_DELIVERY, [(*row, Jsonb({})) for row in rows])
        try:
            yield {rule_id: count for rule_id, count in counted}
        finally:
            db.execute("DELETE FROM notification_deliveries WHERE route = 'report-test'")


def test_the_report_runs_on_the_seeded_stack_and_renders_self_contained(
    kernel_env: dict[str, str], deliveries: dict[str, int], tmp_path: Path
) -> None:
    request = ReportRequest(SINCE, UNTIL, title="NAB winter report")

    run = run_report(tmp_path, request)

    assert (run.status, run.error) == (RunStatus.OK, None), run.error
    assert run.html is not None and run.html.exists()
    executed = nbformat.read(run.notebook, as_version=4)
    assert not [o for c in executed.cells for o in c.get("outputs", []) if o.output_type == "error"]
    html = run.html.read_text()
    assert "<title>NAB winter report</title>" in html
    assert external_references(html) == []
    assert re.search(r"<script[^>]*\bsrc\s*=", html, re.IGNORECASE) is None
    assert re.search(r"<link\b", html, re.IGNORECASE) is None
    assert html.count('class="plotly-graph-div"') == plotly_outputs(run.notebook) == 3
    text = _visible_text(html)
    for line in code_lines(REPORT_NOTEBOOK):
        assert line not in text, f"code shown in the report: {line}"
    assert 'class="jp-CodeMirrorEditor' not in html and "In&nbsp;[" not in html
    total = sum(deliveries.values())
    assert set(deliveries) >= {"machine-temperature-drop", "ambient-temperature-high"}
    assert "NAB winter report" in text
    assert "2013-12-01 00:00 → 2014-03-01 00:00 UTC (90 days)" in text
    assert f"Anomalies: {total} (previous period: " in text
    for rule_id in deliveries:
        assert rule_id in text
    # Per channel: anomalies, sent, dead, silenced, pending, failed attempts.
    assert "report-test-mail 3 1 0 1 1 1" in text
    assert "report-test-slack 3 2 1 0 0 2" in text
    assert f"{datetime.now(UTC):%Y-%m-%d}" not in text  # nothing from the clock


def test_an_empty_range_reports_no_anomalies(kernel_env: dict[str, str], tmp_path: Path) -> None:
    request = ReportRequest(datetime(2010, 1, 1, tzinfo=UTC), datetime(2010, 1, 8, tzinfo=UTC))

    run = run_report(tmp_path, request)

    assert (run.status, run.error) == (RunStatus.OK, None), run.error
    assert run.html is not None
    html = run.html.read_text()
    text = _visible_text(html)
    assert NO_ANOMALIES in text and NO_DELIVERIES in text
    assert "plotly-graph-div" not in html and plotly_outputs(run.notebook) == 0
    assert external_references(html) == []


def test_a_cell_that_raises_fails_the_run_but_keeps_what_ran(
    kernel_env: dict[str, str], tmp_path: Path
) -> None:
    broken = _with_cell(tmp_path / "broken.ipynb", 3, 'raise RuntimeError("broke on purpose")')
    request = ReportRequest(SINCE, UNTIL, title="Broken report")

    run = run_report(tmp_path, request, notebook=broken)

    assert run.status == RunStatus.FAILED
    assert run.error is not None
    assert "raised RuntimeError: broke on purpose" in run.error
    assert run.error.startswith("cell 4 (In [5]: raise RuntimeError(")  # parameters injected
    assert "\n" not in run.error
    executed = nbformat.read(run.notebook, as_version=4)
    errors = [o for c in executed.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert [e.ename for e in errors] == ["RuntimeError"]
    assert run.html is not None
    assert external_references(run.html.read_text()) == []
    text = _visible_text(run.html.read_text())
    assert "Broken report" in text  # the heading, shown before the failure
    assert "broke on purpose" in text
    assert "Anomalies per day" in text and "plotly-graph-div" not in run.html.read_text()


def test_a_cell_over_its_timeout_fails_the_run_and_is_marked(tmp_path: Path) -> None:
    slow = _notebook(
        tmp_path / "slow.ipynb",
        "print('before')",
        "import signal\nsignal.pause()  # never ends by itself",
    )
    executor = PapermillExecutor(slow, start_timeout_s=60.0, execution_timeout_s=1.5)

    with pytest.raises(ReportFailed) as failed:
        executor.execute(tmp_path / "out.ipynb", {})

    assert str(failed.value) == (
        "cell 1 (In [2]: import signal) ran longer than the 2s execution timeout"  # rounded up
    )
    executed = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    assert executed.cells[0].outputs[0]["text"] == "before\n"
    marked = executed.cells[1].outputs[-1]  # after a KeyboardInterrupt, if the kernel got one
    assert (marked.ename, executed.cells[1].metadata.papermill.status) == (
        "CellTimeoutError",
        "failed",
    )
    assert executed.cells[2].outputs == []
    NbconvertRenderer().render(tmp_path / "out.ipynb", tmp_path / "out.html")
    assert "ran longer than the 2s execution timeout" in (tmp_path / "out.html").read_text()


def test_a_kernel_that_dies_fails_the_run_and_marks_its_cell(tmp_path: Path) -> None:
    dying = _notebook(tmp_path / "dying.ipynb", "print('before')", "import os\nos._exit(1)")
    executor = PapermillExecutor(dying, start_timeout_s=60, execution_timeout_s=60)

    with pytest.raises(ReportFailed) as failed:
        executor.execute(tmp_path / "out.ipynb", {})

    # In [2] when the kernel announced the cell before dying.
    assert re.fullmatch(r"cell 1 \(In \[[ 2]\]: import os\) the kernel died", str(failed.value))
    executed = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    assert executed.cells[0].outputs[0]["text"] == "before\n"
    assert executed.cells[1].outputs[-1].ename == "DeadKernelError"


def test_a_missing_kernel_fails_the_run_with_the_reason(tmp_path: Path) -> None:
    executor = PapermillExecutor(
        REPORT_NOTEBOOK, kernel_name="no-such-kernel", start_timeout_s=5, execution_timeout_s=5
    )

    with pytest.raises(ReportFailed, match=r"^NoSuchKernel: No such kernel named no-such-kernel$"):
        executor.execute(tmp_path / "out.ipynb", {"title": "x"})

    assert (tmp_path / "out.ipynb").exists()  # parameterised, nothing ran


def _notebook(path: Path, *sources: str, with_cell: str = "print('never')") -> Path:
    """A small notebook on the `eventpulse` kernel: `sources`, then one more cell."""
    register_kernel()
    metadata = json.loads(REPORT_NOTEBOOK.read_text())["metadata"]
    cells = [nbformat.v4.new_code_cell(source) for source in (*sources, with_cell)]
    nbformat.write(nbformat.v4.new_notebook(cells=cells, metadata=metadata), path)
    return path


def _with_cell(path: Path, index: int, source: str) -> Path:
    """A copy of the report notebook with a code cell inserted at `index`."""
    node = nbformat.read(REPORT_NOTEBOOK, as_version=4)
    node.cells.insert(index, nbformat.v4.new_code_cell(source))
    nbformat.write(node, path)
    return path


def _visible_text(html: str) -> str:
    return Page(html).text
