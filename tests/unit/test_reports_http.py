"""`GET /api/v1/reports…` over a file store in a temporary folder: the list (newest first,
filters, pages), one run, its HTML with a Content-Security-Policy that forbids network loads,
its notebook, and 404s that name the run."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from eventpulse.application.reports import ReportRequest, RunStatus
from eventpulse.domain.access import Scope
from eventpulse.infrastructure.report_files import FileReportStore
from tests.unit.access_fakes import FakeKeys, access_over
from tests.unit.api_client import serve

T0 = datetime(2024, 5, 1, 6, 0, 5, tzinfo=UTC)
REQUEST = ReportRequest(
    since=datetime(2014, 2, 1, tzinfo=UTC),
    until=datetime(2014, 2, 2, tzinfo=UTC),
    rule_ids=("cpu-high",),
    title="Daily",
    schedule="daily",
)
PAGE = "<!doctype html><html><body><script>draw()</script><h1>Daily</h1></body></html>"


def populated(root: Path) -> FileReportStore:
    store = FileReportStore(root)
    ok = store.start(REQUEST, "r-ok", T0)
    assert ok.html is not None
    ok.notebook.write_text('{"cells": []}')
    ok.html.write_text(PAGE)
    end = T0 + timedelta(seconds=12.5)
    store.finish(replace(ok, status=RunStatus.OK, finished_at=end, duration_s=12.5))
    failed = store.start(replace(REQUEST, schedule=None), "r-failed", T0 + timedelta(minutes=1))
    failed.notebook.write_text('{"cells": []}')
    store.finish(
        replace(
            failed,
            status=RunStatus.FAILED,
            html=None,
            finished_at=end,
            duration_s=3.0,
            error="cell 2 raised ValueError: no",
        )
    )
    store.start(REQUEST, "r-running", T0 + timedelta(minutes=2))  # this process: running
    return store


def test_the_list_is_newest_first_with_links_to_the_files_that_exist(tmp_path: Path) -> None:
    with serve(reports=populated(tmp_path)) as client:
        response = client.get("/api/v1/reports")

    assert response.status_code == 200
    body = response.json()
    assert [item["run_id"] for item in body["items"]] == ["r-running", "r-failed", "r-ok"]
    assert body["next_cursor"] is None
    running, failed, ok = body["items"]
    assert ok == {
        "run_id": "r-ok",
        "title": "Daily",
        "since": "2014-02-01T00:00:00+00:00",
        "until": "2014-02-02T00:00:00+00:00",
        "rule_ids": ["cpu-high"],
        "schedule": "daily",
        "status": "ok",
        "started_at": "2024-05-01T06:00:05+00:00",
        "finished_at": "2024-05-01T06:00:17.500000+00:00",
        "duration_s": 12.5,
        "error": None,
        "html_url": "/api/v1/reports/r-ok/html",
        "notebook_url": "/api/v1/reports/r-ok/notebook",
    }
    assert failed["status"] == "failed" and failed["error"] == "cell 2 raised ValueError: no"
    assert failed["html_url"] is None and failed["notebook_url"] is not None
    assert failed["schedule"] is None
    assert running["status"] == "running" and running["finished_at"] is None
    assert running["html_url"] is None and running["notebook_url"] is None


def test_filters_and_pages(tmp_path: Path) -> None:
    with serve(reports=populated(tmp_path)) as client:
        failed = client.get("/api/v1/reports", params={"status": "failed"}).json()
        daily = client.get("/api/v1/reports", params={"schedule": "daily"}).json()
        first = client.get("/api/v1/reports", params={"limit": 2}).json()
        rest = client.get(
            "/api/v1/reports", params={"limit": 2, "cursor": first["next_cursor"]}
        ).json()
        bad = client.get("/api/v1/reports", params={"status": "done", "cursor": "x"})

    assert [i["run_id"] for i in failed["items"]] == ["r-failed"]
    assert [i["run_id"] for i in daily["items"]] == ["r-running", "r-ok"]
    assert [i["run_id"] for i in first["items"] + rest["items"]] == [
        "r-running",
        "r-failed",
        "r-ok",
    ]
    assert rest["next_cursor"] is None
    assert bad.status_code == 422
    assert "status" in {e["field"] for e in bad.json()["errors"]}


def test_one_run_and_a_404_naming_an_unknown_one(tmp_path: Path) -> None:
    with serve(reports=populated(tmp_path)) as client:
        one = client.get("/api/v1/reports/r-failed")
        missing = client.get("/api/v1/reports/nope-123")
        traversal = client.get("/api/v1/reports/..%2F..%2Fetc")

    assert one.status_code == 200 and one.json()["run_id"] == "r-failed"
    assert missing.status_code == 404 and "nope-123" in missing.json()["detail"]
    assert traversal.status_code == 404


def test_the_html_is_served_with_a_policy_that_forbids_network_loads(tmp_path: Path) -> None:
    with serve(reports=populated(tmp_path)) as client:
        response = client.get("/api/v1/reports/r-ok/html")

    assert response.status_code == 200 and response.text == PAGE
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    policy = dict(
        part.strip().split(" ", 1)
        for part in response.headers["content-security-policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    assert policy["connect-src"] == "'none'"
    assert "'unsafe-inline'" in policy["script-src"] and "http" not in policy["script-src"]
    assert policy["style-src"] == "'unsafe-inline'"
    assert policy["img-src"].split() == ["data:", "blob:"]
    assert policy["sandbox"].split() == ["allow-scripts", "allow-downloads"]  # opaque origin
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_a_browser_opens_the_files_with_a_token_parameter_once_keys_exist(
    tmp_path: Path,
) -> None:
    keys = FakeKeys()
    key = keys.create(Scope.READ)
    with serve(reports=populated(tmp_path), access=access_over(keys)) as client:
        assert client.get("/api/v1/reports/r-ok/html").status_code == 401
        assert client.get(f"/api/v1/reports/r-ok/html?token={key}").text == PAGE
        assert client.get(f"/api/v1/reports/r-ok/notebook?token={key}").status_code == 200
        assert client.get(f"/api/v1/reports/r-ok/html?token={key}x").status_code == 401
        # the JSON routes take the key from the header only
        assert client.get(f"/api/v1/reports?token={key}").status_code == 401
        headers = {"Authorization": f"Bearer {key}"}
        assert client.get("/api/v1/reports", headers=headers).status_code == 200


def test_the_notebook_is_served_and_missing_files_answer_404(tmp_path: Path) -> None:
    with serve(reports=populated(tmp_path)) as client:
        notebook = client.get("/api/v1/reports/r-failed/notebook")
        no_html = client.get("/api/v1/reports/r-failed/html")
        running = client.get("/api/v1/reports/r-running/notebook")

    assert notebook.status_code == 200 and notebook.json() == {"cells": []}
    assert notebook.headers["content-type"] == "application/x-ipynb+json"
    assert 'filename="r-failed.ipynb"' in notebook.headers["content-disposition"]
    assert no_html.status_code == 404 and "r-failed" in no_html.json()["detail"]
    assert running.status_code == 409  # still running: not ready yet


def test_without_a_store_the_reports_answer_503() -> None:
    with serve() as client:
        assert client.get("/api/v1/reports").status_code == 503


def test_a_running_runs_files_are_not_linked_and_asking_for_them_is_409(tmp_path: Path) -> None:
    store = populated(tmp_path)
    running = store.get("r-running")
    assert running is not None and running.html is not None
    running.notebook.write_text('{"cells": []}')  # papermill rewrites it while the run goes on
    running.html.write_text(PAGE)
    with serve(reports=store) as client:
        listed = client.get("/api/v1/reports/r-running").json()
        notebook = client.get("/api/v1/reports/r-running/notebook")
        html = client.get("/api/v1/reports/r-running/html")

    assert listed["notebook_url"] is None and listed["html_url"] is None
    for response in (notebook, html):
        assert response.status_code == 409
        assert "report run 'r-running' is still running" in response.json()["detail"]
