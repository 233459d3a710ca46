"""For the report tests: a report store in a folder (no index), running the report notebook
through `RunReport` with the real executor and renderer, and what to look for in the page."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import nbformat

from eventpulse.application.reports import ReportRequest, ReportRun, RunReport, RunStatus
from eventpulse.infrastructure.papermill_reports import PapermillExecutor
from eventpulse.infrastructure.report_html import NbconvertRenderer

ROOT = Path(__file__).parents[1]
REPORT_NOTEBOOK = ROOT / "notebooks" / "reports" / "anomaly_report.ipynb"
PLOTLY_JSON = "application/vnd.plotly.v1+json"


@dataclass
class FolderStore:
    """A `ReportStore` keeping its runs in memory (as started and as finished) and their files
    in `folder`."""

    folder: Path
    started: list[ReportRun] = field(default_factory=list)
    finished: list[ReportRun] = field(default_factory=list)

    def start(self, request: ReportRequest, run_id: str, started_at: datetime) -> ReportRun:
        run = ReportRun(
            run_id=run_id,
            request=request,
            status=RunStatus.RUNNING,
            started_at=started_at,
            notebook=self.folder / f"{run_id}.ipynb",
            html=self.folder / f"{run_id}.html",
        )
        self.started.append(run)
        return run

    def finish(self, run: ReportRun) -> None:
        self.finished.append(run)

    def runs(self, limit: int = 100) -> Sequence[ReportRun]:
        return self.finished[::-1][:limit]

    def get(self, run_id: str) -> ReportRun | None:
        return next((r for r in self.finished if r.run_id == run_id), None)


def run_report(
    folder: Path,
    request: ReportRequest,
    *,
    notebook: Path = REPORT_NOTEBOOK,
    execution_timeout_s: float = 120,
) -> ReportRun:
    """Execute and render the report notebook as the scheduler does (`eventpulse` kernel)."""
    executor = PapermillExecutor(
        notebook, start_timeout_s=60, execution_timeout_s=execution_timeout_s
    )
    return RunReport(FolderStore(folder), executor, NbconvertRenderer())(request)


def plotly_outputs(notebook: Path) -> int:
    """How many figures the executed notebook shows."""
    node = nbformat.read(notebook, as_version=4)
    return sum(
        PLOTLY_JSON in output.get("data", {})
        for cell in node.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
    )


def code_lines(notebook: Path) -> list[str]:
    """The lines of the notebook's code cells worth looking for in a page (not blank, not
    too short to be telling)."""
    node = nbformat.read(notebook, as_version=4)
    return [
        line.strip()
        for cell in node.cells
        if cell.cell_type == "code"
        for line in cell.source.splitlines()
        if len(line.strip()) >= 12
    ]


class Page(HTMLParser):
    """What a page refers to (`src`/`href` and `<link>`s) and its visible text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.references: list[str] = []
        self.links: list[dict[str, str | None]] = []
        self.scripts = 0
        self.styles: list[str] = []
        self._text: list[str] = []
        self._inside: list[str] = []
        self.feed(html)
        self.close()

    @property
    def text(self) -> str:
        return " ".join(" ".join(self._text).split())

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found: dict[str, Any] = dict(attrs)
        self.references += [found[k] for k in ("src", "href") if found.get(k) is not None]
        if tag == "link":
            self.links.append(found)
        if tag == "script":
            self.scripts += 1
        if tag in ("script", "style"):
            self._inside.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._inside:
            self._inside.pop()

    def handle_data(self, data: str) -> None:
        if not self._inside:
            self._text.append(data)
        elif self._inside[-1] == "style":
            self.styles.append(data)


def external_references(html: str) -> list[str]:
    """Every `src`/`href` of the page that is not an in-page anchor or a `data:` URL, every
    `<link>`, every stylesheet import or `url()` that is not `data:`, and every mention of a
    CDN outside the scripts (plotly.js, embedded, names the CDN it would fetch map data from
    for geographic charts, which reports do not draw)."""
    page = Page(html)
    found = [r for r in page.references if not r.startswith(("#", "data:"))]
    found += [f"<link {link}>" for link in page.links]
    for css in page.styles:
        found += re.findall(r"@import[^;]*;", css)
        found += [
            u for u in re.findall(r"url\(\s*['\"]?([^)'\"]*)", css) if not u.startswith("data:")
        ]
    if "cdn" in page.text.lower():
        found.append("a CDN named in the page's text")
    return found
