"""A report as a person opens it from the API: `eventpulse report` runs the report notebook
on a real stack (API, worker, a rule that fired), and headless Chromium opens the page at
`GET /api/v1/reports/{run_id}/html`, under the Content-Security-Policy it is served with, able
to reach nothing but the API. Every plotly chart draws, nothing else is requested, no script
fails, nothing is logged as an error and the policy refuses nothing; the screenshot is kept in
the test's output directory.

The policy has no 'unsafe-eval': plotly draws the report's charts without evaluating strings.
Refusals are recorded as `securitypolicyviolation` events, not only console errors: Chromium
logs a refused load to the console but not a refused `eval`/`new Function` (the caller gets an
`EvalError`, which plotly's WebGL code catches: its chart just says "WebGL is not supported").
The test ends by having the page try an `eval`, to see the recorder catch it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from playwright.sync_api import Browser

from eventpulse.interfaces.http.reports import CONTENT_SECURITY_POLICY
from eventpulse.interfaces.lab import register_kernel
from tests.browser.charts import drawn_charts
from tests.browser.conftest import LOCAL_URLS, offline_context
from tests.integration.conftest import Product
from tests.integration.report_support import report_command, runs_of, start_with_anomalies
from tests.report_support import plotly_outputs

pytestmark = pytest.mark.integration

# Runs in every document before its own scripts: each refusal of the page's policy, kept.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (event) => {
    window.__cspViolations.push({
        directive: event.effectiveDirective,
        blocked: event.blockedURI,
        source: event.sourceFile,
        line: event.lineNumber,
        sample: event.sample,
    });
});
"""


@pytest.fixture
def report_url(product: Product, db: psycopg.Connection[Any]) -> tuple[str, str, Path]:
    """A report run by `eventpulse report` over a day with anomalies: the API's base URL, the
    page's URL as the API lists it, and the run's executed notebook."""
    register_kernel()
    api = start_with_anomalies(product, db)
    done = report_command(product, "--title", "Payments, 1 March", "--rules", "payment-failed")
    assert done.returncode == 0, done.stdout + done.stderr
    (run,) = runs_of(product.settings.home.resolve() / "reports")
    assert run.notebook is not None and run.notebook.exists()
    with httpx.Client(base_url=api, timeout=30) as http:
        listed = http.get(f"/api/v1/reports/{run.run_id}").json()
    assert listed["status"] == "ok", listed
    assert listed["html_url"] == f"/api/v1/reports/{run.run_id}/html"
    return api, f"{api}{listed['html_url']}", run.notebook


def test_the_served_report_draws_every_chart_under_its_policy(
    browser: Browser, report_url: tuple[str, str, Path], tmp_path: Path
) -> None:
    api, url, notebook = report_url
    options = {"viewport": {"width": 1280, "height": 900}}
    with offline_context(browser, allow=(*LOCAL_URLS, api), **options) as offline:
        offline.context.add_init_script(RECORD_VIOLATIONS)
        page = offline.new_page()
        try:
            response = page.goto(url)
            assert response is not None and response.status == 200
            assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
            drawn = drawn_charts(page)
        finally:
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)

        charts = plotly_outputs(notebook)
        assert charts == 3  # per rule, per day, timeline
        assert drawn == {
            "charts": charts,
            "withTraces": charts,
            "plotly": "object",
            "requirejs": "undefined",
        }
        assert offline.blocked == []
        assert [u for u in offline.requests if not u.startswith(LOCAL_URLS)] == [url]
        assert offline.page_errors == []
        assert offline.console_errors == []
        assert page.evaluate("() => window.__cspViolations") == []
        assert (tmp_path / "report.png").stat().st_size > 10_000

        # The control: the policy refuses an eval, and the recorder sees it. In a task of the
        # page's own: code that Playwright evaluates may eval whatever the policy says.
        refused = page.evaluate(
            """() => new Promise(resolve => setTimeout(() => {
                try { eval('1'); resolve(false) } catch (error) { resolve(error.name) }
            }))"""
        )
        assert refused == "EvalError", "the policy lets the page evaluate strings"
        page.wait_for_function("() => window.__cspViolations.length > 0", timeout=10_000)
        control = page.evaluate("() => window.__cspViolations")
        assert [(v["directive"], v["blocked"]) for v in control] == [("script-src", "eval")]
