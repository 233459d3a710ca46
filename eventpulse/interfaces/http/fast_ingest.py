"""A lean ASGI path for the two ingestion endpoints, the product's hottest requests.

Profiling showed ~80% of a single-event request's time in FastAPI's routing and dependency
machinery rather than in EventPulse (benchmarks/RESULTS.md): this middleware answers
`POST /api/v1/events` and `POST /api/v1/events/batch` itself, with the very same body reading,
validation, use case and error mapping as the FastAPI routes in `events.py` (which still
document them in OpenAPI and serve them if this middleware is not installed). Every other
request passes through untouched; an unexpected error reaches Starlette's 500 handler.
Access control is the routes' too: the `ingest` scope and the key's rate limit (access.py),
checked before the body is read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from eventpulse.domain.access import Scope as Needed
from eventpulse.domain.errors import EventPulseError
from eventpulse.interfaces.http.access import authorize, ingest_cost
from eventpulse.interfaces.http.body import read_json
from eventpulse.interfaces.http.deps import ApiServices
from eventpulse.interfaces.http.errors import error_parts
from eventpulse.interfaces.http.ingestion import accept_batch, accept_one

Handler = Callable[[ApiServices, Any], Awaitable[tuple[int, dict[str, Any]]]]


class _ClientGone(Exception):
    pass


class IngestFastPath:
    def __init__(self, app: ASGIApp, *, prefix: str) -> None:
        self.app = app
        self._routes: dict[str, Handler] = {
            f"{prefix}/events": accept_one,
            f"{prefix}/events/batch": accept_batch,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = None
        if scope["type"] == "http" and scope["method"] == "POST":
            handler = self._routes.get(scope["path"])
        if handler is None:
            await self.app(scope, receive, send)
            return
        services: ApiServices = scope["app"].state.services
        headers: dict[str, str] = {}
        try:
            key = await authorize(services, scope, Needed.INGEST)  # before reading the body
            services.access.admit(key)
            document = await _document(scope, receive, services)
            services.access.charge(key, ingest_cost(document))
            status, body = await handler(services, document)
        except EventPulseError as exc:
            status, body, headers = error_parts(exc)
        except _ClientGone:
            return
        await _send_json(send, status, orjson.dumps(body), headers)


async def _document(scope: Scope, receive: Receive, services: ApiServices) -> Any:
    content_type = content_length = None
    for name, value in scope["headers"]:
        if name == b"content-type":
            content_type = value.decode("latin-1")
        elif name == b"content-length":
            content_length = value.decode("latin-1")
    return await read_json(
        content_type, content_length, _chunks(receive), services.limits.max_body_bytes
    )


async def _chunks(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


async def _send_json(send: Send, status: int, body: bytes, headers: dict[str, str]) -> None:
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((name.lower().encode(), value.encode()) for name, value in headers.items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})
