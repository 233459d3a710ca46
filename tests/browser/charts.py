"""What the plotly charts of a report page drew, once every one of them has drawn."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

CHARTS_DRAWN = """() => [...document.querySelectorAll('.plotly-graph-div')]
    .every(div => div.querySelector('.main-svg') !== null)"""
DRAWN = """() => ({
    charts: document.querySelectorAll('.plotly-graph-div').length,
    withTraces: [...document.querySelectorAll('.plotly-graph-div')]
        .filter(div => div.data && div.data.length > 0).length,
    plotly: typeof window.Plotly,
    requirejs: typeof window.requirejs,
})"""


def drawn_charts(page: Page) -> dict[str, Any]:
    """Waits until each plotly chart of `page` has drawn its SVG, then says how many charts
    there are (`charts`), how many have traces (`withTraces`), and the types of
    `window.Plotly` (`plotly`) and `window.requirejs` (`requirejs`)."""
    page.wait_for_function(CHARTS_DRAWN, timeout=30_000)
    drawn: dict[str, Any] = page.evaluate(DRAWN)
    return drawn
