"""A person's view of the live viewer: `04_live_anomaly_viewer.ipynb` served by Voilà (a real
server and kernel: it runs every cell and shows the widgets) in headless Chromium; an
anomaly-triggering event is posted to the API, and the anomaly appears on the page. Nothing is
fetched from outside loopback; the screenshot is kept in the test's output directory."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from eventpulse.interfaces.lab import register_kernel
from tests.browser.conftest import LOCAL_URLS, offline_context
from tests.integration.conftest import Product
from tests.integration.payments import post_failed_payment, start_with_rule
from tests.support import free_port, stop, wait_until

pytestmark = pytest.mark.integration

FONT_AWESOME = "cdn.jsdelivr.net/npm/@fortawesome/"

NOTEBOOK = Path(__file__).parents[2] / "notebooks" / "04_live_anomaly_viewer.ipynb"


@pytest.fixture
def api_url(product: Product) -> str:
    return start_with_rule(product)


@pytest.fixture
def dashboard(product: Product, api_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Voilà serving a copy of the notebook as a dashboard, its kernel on the test's product;
    its base URL and the page's URL, token included."""
    register_kernel()
    root = tmp_path / "notebooks"
    root.mkdir()
    notebook = root / NOTEBOOK.name
    shutil.copy(NOTEBOOK, notebook)
    port, token = free_port(), secrets.token_hex(16)
    jupyter = tmp_path / "jupyter"
    env = {
        **os.environ,
        **product.env,
        "EVENTPULSE_API_URL": api_url,
        "JUPYTER_CONFIG_DIR": str(jupyter / "config"),
        "JUPYTER_RUNTIME_DIR": str(jupyter / "runtime"),
    }
    argv = [
        str(notebook),
        "--no-browser",
        "--Voila.ip=127.0.0.1",
        f"--port={port}",
        f"--token={token}",
        "--show_tracebacks=True",
    ]
    log_path = tmp_path / "voila.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "voila", *argv],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"

    def answering() -> bool:
        assert process.poll() is None, log_path.read_text()[-3000:]
        try:  # a GET of the page would start a kernel: only see that it listens
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return False
        return True

    try:
        wait_until(answering, timeout=60, what="Voilà to answer")
        yield base, f"{base}/?token={token}"
    finally:
        stop(process)


def test_an_anomaly_appears_in_the_viewer_dashboard(
    browser: Browser, dashboard: tuple[str, str], api_url: str, tmp_path: Path
) -> None:
    base, url = dashboard
    options = {"viewport": {"width": 1400, "height": 1000}}
    with offline_context(browser, allow=(*LOCAL_URLS, base), **options) as offline:
        page = offline.new_page()
        try:
            page.goto(url, timeout=120_000)  # Voilà runs every cell, then shows the page
            viewer = page.locator(".eventpulse-live-viewer")
            viewer.wait_for(timeout=120_000)
            viewer.locator(".ep-status:text('live')").wait_for(timeout=60_000)
            assert viewer.locator(".ep-empty").count() == 1  # a new product: nothing yet

            post_failed_payment(api_url, "shop-browser")

            row = viewer.locator("table.ep-anomalies tr[data-anomaly-id]")
            row.first.wait_for(timeout=60_000)
            assert "payment failed on shop-browser" in row.first.inner_text()
            assert viewer.locator(".ep-shown").inner_text() == "1"
            viewer.locator(".js-plotly-plot .scatterlayer .point").first.wait_for(timeout=30_000)
            assert "shop-browser" in viewer.locator(".ep-details").inner_text()
        finally:
            page.screenshot(path=str(tmp_path / "live_viewer.png"), full_page=True)
        # Nothing from outside but Voilà's own template's icon font (the viewer uses no icons).
        assert all(FONT_AWESOME in url for url in offline.blocked), offline.blocked
        assert offline.page_errors == []
