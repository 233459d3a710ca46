"""`eventpulse report` end to end on a real stack: the report notebook over a range of stored
events and anomalies, its files at `<home>/reports/<date>/<run>.{ipynb,html}`, the index, and
`GET /api/v1/reports` listing the run and serving its HTML (with the Content-Security-Policy)
and notebook; a failing run exits 1, keeps its executed notebook, is recorded failed and still
renders what it can: its HTML, served by the API, holds the cells that ran before the failure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import pytest

from eventpulse.interfaces.lab import register_kernel
from tests.integration.conftest import Product
from tests.integration.report_support import failing_notebook, report_command, start_with_anomalies

pytestmark = pytest.mark.integration


def _run_id(output: str) -> str:
    first = output.splitlines()[0]  # "run <id>: <status> in <n>s"
    assert first.startswith("run "), output
    return first.split()[1].rstrip(":")


def test_a_report_run_is_stored_indexed_and_served_by_the_api(
    product: Product, db: psycopg.Connection[Any], tmp_path: Path
) -> None:
    register_kernel()
    api = start_with_anomalies(product, db)

    done = report_command(product, "--title", "Payments, 1 March", "--rules", "payment-failed")
    assert done.returncode == 0, done.stdout + done.stderr
    run_id = _run_id(done.stdout)
    assert f"run {run_id}: ok in " in done.stdout
    root = product.settings.home.resolve() / "reports"
    (notebook,) = root.glob(f"*/{run_id}.ipynb")
    html = notebook.with_suffix(".html")
    assert html.exists() and str(notebook) in done.stdout and str(html) in done.stdout
    index = [orjson.loads(line) for line in (root / "index.jsonl").read_bytes().splitlines()]
    assert [(r["run_id"], r["status"]) for r in index] == [(run_id, "running"), (run_id, "ok")]
    assert notebook.parent.name == index[0]["started_at"][:10]  # the UTC date it started
    assert index[-1]["rule_ids"] == ["payment-failed"] and index[-1]["schedule"] is None

    failing = failing_notebook(tmp_path)
    failed = report_command(product, "--notebook", str(failing))
    assert failed.returncode == 1, failed.stdout + failed.stderr
    failed_id = _run_id(failed.stdout)
    assert f"run {failed_id}: failed" in failed.stdout and "RuntimeError" in failed.stdout
    (kept,) = root.glob(f"*/{failed_id}.ipynb")
    assert "before the failure" in kept.read_text()  # the cells that ran, with their output

    with httpx.Client(base_url=api, timeout=30) as http:
        listed = http.get("/api/v1/reports").json()["items"]
        assert [item["run_id"] for item in listed] == [failed_id, run_id]
        bad, good = listed
        assert good["status"] == "ok" and good["title"] == "Payments, 1 March"
        assert good["since"] == "2024-03-01T00:00:00+00:00" and good["duration_s"] > 0
        assert bad["status"] == "failed" and "RuntimeError" in bad["error"]
        assert bad["notebook_url"] == f"/api/v1/reports/{failed_id}/notebook"
        assert bad["html_url"] == f"/api/v1/reports/{failed_id}/html"  # still renders what it can

        page = http.get(good["html_url"])
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert "Payments, 1 March" in page.text
        assert "<script src=" not in page.text.replace('<script src="data:', "")
        partial = http.get(bad["html_url"])
        assert partial.status_code == 200 and partial.headers["content-type"].startswith("text/")
        assert "before the failure" in partial.text  # the output of the cells that ran
        assert "print('before the failure')" not in partial.text  # (the page has no code)
        executed = http.get(bad["notebook_url"])
        assert executed.status_code == 200 and "cells" in executed.json()
        assert http.get(f"/api/v1/reports/{failed_id}").json()["status"] == "failed"
