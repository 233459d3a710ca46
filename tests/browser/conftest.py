"""Headless Chromium for the browser tests, through Playwright's sync API.

The browser is the system's Chromium (Debian's `chromium` package, which `make install`
installs when missing): Playwright downloads nothing. `offline_context` (or the `offline` fixture)
gives a browser context in which every request for anything but the allowed URLs (by default
`file:` and `data:`) is aborted and recorded, and page errors are collected, so a test can
assert that a page works without the network.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    Route,
    sync_playwright,
)

# The integration tests' fixtures for a running product: its processes, the test's database.
from tests.integration.conftest import db, product  # noqa: F401

LOCAL_URLS = ("file:", "data:", "blob:", "about:")


def chromium_path() -> str:
    return shutil.which("chromium") or "/usr/bin/chromium"


# Module-scoped, not session-scoped: while Playwright's sync API is open, its event loop is
# this thread's running loop, and every later test calling `asyncio.run` would fail.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    executable = chromium_path()
    if not Path(executable).exists():
        pytest.fail("no Chromium: `make install` installs it (Debian: apt-get install chromium)")
    launched = playwright.chromium.launch(executable_path=executable, headless=True)
    yield launched
    launched.close()


@dataclass
class OfflineContext:
    """A browser context that reaches nothing but the allowed URLs. `blocked`: the requests
    it aborted; `requests`: every URL requested; `page_errors`: uncaught errors of its pages;
    `console_errors`: what its pages logged as errors."""

    context: BrowserContext
    blocked: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def new_page(self) -> Page:
        page = self.context.new_page()
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.on("console", self._console)
        return page

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)


@contextmanager
def offline_context(
    browser: Browser, *, allow: Sequence[str] = LOCAL_URLS, **options: Any
) -> Iterator[OfflineContext]:
    """A new context (`options` go to `browser.new_context`) in which a request whose URL
    starts with none of `allow` is aborted and recorded."""
    context = browser.new_context(**options)
    offline = OfflineContext(context)

    def guard(route: Route) -> None:
        url = route.request.url
        if url.startswith(tuple(allow)):
            route.continue_()
        else:
            offline.blocked.append(url)
            route.abort("internetdisconnected")

    context.on("request", lambda request: offline.requests.append(request.url))
    context.route("**/*", guard)
    try:
        yield offline
    finally:
        context.close()


@pytest.fixture
def offline(browser: Browser) -> Iterator[OfflineContext]:
    """An `offline_context` allowing `file:` and `data:` URLs only."""
    with offline_context(browser) as context:
        yield context
