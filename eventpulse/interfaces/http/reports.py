"""Anomaly reports: the runs recorded under `EVENTPULSE_HOME/reports` (newest first), one run,
its rendered HTML and its executed notebook.

The HTML is served with a Content-Security-Policy that lets the page run its own inline
scripts and styles (plotly is embedded in the page) and show `data:` images, and forbids
evaluating strings as code (`eval`, `new Function`) and every network load (scripts, styles,
images, fonts, fetch/XHR, frames, forms): a report is self-contained, and stays so when it
holds something it should not.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from starlette.responses import FileResponse, Response

from eventpulse.application import report_index
from eventpulse.application.queries import DEFAULT_LIMIT
from eventpulse.application.report_index import ReportIndex
from eventpulse.application.reports import ReportRun
from eventpulse.domain.errors import StoreUnavailable
from eventpulse.interfaces.http.access import READ, READ_LINK
from eventpulse.interfaces.http.deps import ApiServices, Services
from eventpulse.interfaces.http.errors import json_response
from eventpulse.interfaces.http.paging import LIST_ERRORS, Cursor, Limit, NameFilter, list_body
from eventpulse.interfaces.http.schemas import ErrorOut

router = APIRouter(prefix="/reports", tags=["reports"])

CONTENT_SECURITY_POLICY: Final = "; ".join(
    [
        "default-src 'none'",
        # plotly.js is inline. No 'unsafe-eval': the report's charts (Bar, Scatter: SVG)
        # evaluate no strings. WebGL traces would need it: for scattergl, regl compiles its draw
        # code with `Function`, and under this policy the chart shows "WebGL is not supported"
        # instead (tests/browser/test_report_served.py draws the report under this policy).
        "script-src 'unsafe-inline'",
        "style-src 'unsafe-inline'",
        "img-src data: blob:",
        "font-src data:",
        "connect-src 'none'",
        "frame-src 'none'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'self'",
        # An opaque origin: the page's scripts cannot act as the API's origin (its storage,
        # same-origin requests), navigate the top window away or submit forms.
        "sandbox allow-scripts allow-downloads",
    ]
)
HTML_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
NOTEBOOK_MEDIA_TYPE: Final = "application/x-ipynb+json"

StatusFilter = Annotated[Literal["running", "ok", "failed"] | None, Query()]


class ReportOut(BaseModel):
    run_id: str
    title: str
    since: datetime
    until: datetime
    rule_ids: list[str]
    schedule: str | None
    status: Literal["running", "ok", "failed"]
    started_at: datetime
    finished_at: datetime | None
    duration_s: float | None
    error: str | None
    html_url: str | None
    notebook_url: str | None


class ReportListOut(BaseModel):
    items: list[ReportOut]
    next_cursor: str | None


_ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorOut} for code in (404, 503)}
_FILE_ERRORS: dict[int | str, dict[str, Any]] = {**_ERRORS, 409: {"model": ErrorOut}}


def _index(services: ApiServices) -> ReportIndex:
    index: ReportIndex | None = services.reports
    if index is None:
        raise StoreUnavailable("reports are not available in this API process")
    return index


def _document(run: ReportRun, request: Request, index: ReportIndex) -> dict[str, Any]:
    links: dict[str, str | None] = {"html_url": None, "notebook_url": None}
    if report_index.served_file(index, run, "html") is not None:
        links["html_url"] = request.url_for("report_html", run_id=run.run_id).path
    if report_index.served_file(index, run, "notebook") is not None:
        links["notebook_url"] = request.url_for("report_notebook", run_id=run.run_id).path
    ask = run.request
    return {
        "run_id": run.run_id,
        "title": ask.title,
        "since": ask.since.isoformat(),
        "until": ask.until.isoformat(),
        "rule_ids": list(ask.rule_ids),
        "schedule": ask.schedule,
        "status": str(run.status),
        "started_at": run.started_at.isoformat(),
        "finished_at": None if run.finished_at is None else run.finished_at.isoformat(),
        "duration_s": run.duration_s,
        "error": run.error,
        **links,
    }


@router.get(
    "",
    response_model=ReportListOut,
    responses=LIST_ERRORS,
    summary="Report runs, newest first",
    dependencies=[READ],
)
async def list_reports(
    request: Request,
    services: Services,
    status: StatusFilter = None,
    schedule: NameFilter = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    """Runs by descending start time (a run that failed without recording it, its process
    gone, is `failed`); follow `next_cursor` until it is null."""
    index = _index(services)

    def read() -> dict[str, Any]:
        page = report_index.list_reports(
            index, status=status, schedule=schedule, limit=limit, cursor=cursor
        )
        return list_body(page, lambda run: _document(run, request, index))

    return json_response(await asyncio.to_thread(read), 200)


@router.get(
    "/{run_id}",
    response_model=ReportOut,
    responses=_ERRORS,
    summary="One report run",
    dependencies=[READ],
)
async def get_report(run_id: str, request: Request, services: Services) -> Response:
    index = _index(services)

    def read() -> dict[str, Any]:
        return _document(report_index.find_report(index, run_id), request, index)

    return json_response(await asyncio.to_thread(read), 200)


@router.get(
    "/{run_id}/html",
    name="report_html",
    response_class=Response,
    responses={200: {"content": {"text/html": {}}}, **_FILE_ERRORS},
    summary="The report, as self-contained HTML",
    dependencies=[READ_LINK],
)
async def report_html(run_id: str, services: Services) -> Response:
    path = await _file(services, run_id, "html")
    return FileResponse(path, media_type="text/html; charset=utf-8", headers=HTML_HEADERS)


@router.get(
    "/{run_id}/notebook",
    name="report_notebook",
    response_class=Response,
    responses={200: {"content": {NOTEBOOK_MEDIA_TYPE: {}}}, **_FILE_ERRORS},
    summary="The executed notebook of a run (.ipynb)",
    dependencies=[READ_LINK],
)
async def report_notebook(run_id: str, services: Services) -> Response:
    path = await _file(services, run_id, "notebook")
    return FileResponse(
        path,
        media_type=NOTEBOOK_MEDIA_TYPE,
        filename=f"{run_id}.ipynb",
        headers={"X-Content-Type-Options": "nosniff"},
    )


async def _file(services: ApiServices, run_id: str, kind: report_index.FileKind) -> Path:
    """The file to serve: 404 naming the run (no such run or file), 409 while it runs."""
    index = _index(services)
    return await asyncio.to_thread(report_index.report_file, index, run_id, kind)
