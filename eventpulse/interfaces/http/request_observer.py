"""Every HTTP request gets an id, a count and a latency, whichever front answers it.

The outermost ASGI middleware, so the ingestion fast path (fast_ingest.py) is observed like the
FastAPI routes:
- **request id**: the client's `X-Request-ID` when it is a sane token, else a new one; it is
  returned in the `X-Request-ID` header and carried by every log line written while the
  request is handled (interfaces/logs.py);
- **metrics**: requests by method, route *template* (`/api/v1/events/{event_id}`, never the
  raw path: labels stay few) and status, and a latency histogram by method and route.
  The templates are the app's OpenAPI paths, matched here rather than read from the router
  (the fast path answers before routing); a path that matches none is `<unmatched>`.
"""

from __future__ import annotations

import itertools
import logging
import re
import time
import uuid
from re import Pattern
from typing import Final

from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from eventpulse.infrastructure.prometheus_metrics import observe_request
from eventpulse.interfaces.logs import REQUEST_ID

log = logging.getLogger("eventpulse.http")

HEADER: Final = b"x-request-id"
UNMATCHED: Final = "<unmatched>"
_CLIENT_ID: Final = re.compile(rb"[A-Za-z0-9._:/+=@-]{1,128}")
_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestObserver:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._templates: RouteTemplates | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _client_id(scope) or _new_id()
        token = REQUEST_ID.set(request_id)
        header = (HEADER, request_id.encode())
        status = 500  # what the server answers if the app raises before it starts a response
        began = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._observe(scope, status, time.perf_counter() - began)
        # Reset only after a normal answer: an exception propagates to the server, whose log
        # line about it should still carry the request id (each request is its own task).
        REQUEST_ID.reset(token)

    def _observe(self, scope: Scope, status: int, seconds: float) -> None:
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        route = self._route(scope)
        observe_request(method, route, status, seconds)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "%s %s %d %.1f ms",
                method,
                scope["path"],
                status,
                seconds * 1000,
                extra={"route": route, "status": status},
            )

    def _route(self, scope: Scope) -> str:
        if self._templates is None:  # the app is complete once it serves requests
            app = scope["app"]
            docs = (app.openapi_url, app.docs_url, app.redoc_url)
            self._templates = RouteTemplates([*app.openapi()["paths"], *filter(None, docs)])
        return self._templates.of(scope["path"])


class RouteTemplates:
    """The route template of a request path: a path without parameters is its own template
    (one lookup: the ingestion paths), others are tried in the app's order."""

    def __init__(self, templates: list[str]) -> None:
        self._static = frozenset(t for t in templates if "{" not in t)
        self._patterns: list[tuple[Pattern[str], str]] = [
            (compile_path(t)[0], t) for t in templates if "{" in t
        ]

    def of(self, path: str) -> str:
        if path in self._static:
            return path
        return next((t for pattern, t in self._patterns if pattern.match(path)), UNMATCHED)


_PREFIX: Final = uuid.uuid4().hex[:16]
_serial = itertools.count(1)


def _new_id() -> str:
    """Unique without a random read per request: a random per-process prefix and a counter."""
    return f"{_PREFIX}{next(_serial):016x}"  # 32 hex digits, like a uuid4


def _client_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == HEADER:
            return value.decode("ascii") if _CLIENT_ID.fullmatch(value) else None
    return None
