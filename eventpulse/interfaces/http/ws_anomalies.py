"""`WS /api/v1/ws/anomalies`: live anomalies, filtered, resumable without gap or repeat.

OpenAPI cannot describe a WebSocket, so `PROTOCOL` below is also the description of
`GET /api/v1/ws/anomalies` in /docs (a plain HTTP request there answers 426).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Final

import anyio
import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.responses import Response

from eventpulse.application.anomaly_watch import AnomalyWatch, parse_watch_request
from eventpulse.application.live_anomalies import ClientTooSlow, LiveQueue
from eventpulse.domain.errors import EventPulseError, InvalidInput, StreamUnavailable
from eventpulse.interfaces.http.access import READ, READ_WEBSOCKET, TOKEN_PARAMETER
from eventpulse.interfaces.http.deps import LiveAnomalies
from eventpulse.interfaces.http.errors import error_body, json_response
from eventpulse.interfaces.http.schemas import ErrorOut

log = logging.getLogger("eventpulse.ws")

PROTOCOL: Final = """\
Connect a WebSocket to `/api/v1/ws/anomalies` (this HTTP GET only documents it and answers 426).

**Query parameters** (all optional; repeat a parameter or comma-separate its values):
`severity` (info, warning, critical), `rule_id`, and `since` = the `cursor` of a message
received earlier, or `0` for the oldest entry the feed still keeps. Filters apply to every
anomaly sent, resumed or live; an unknown parameter is refused. Once API keys exist, a key with
the `read` scope goes in an `Authorization: Bearer <key>` header or, from a browser, in
`token=<key>`.

**Messages** (server to client, JSON text frames):
- `{"cursor": "<ms>-<seq>", "anomaly": {...}}`: one anomaly (the document of
  `GET /anomalies/{id}`), in feed order; cursors only grow.
- `{"heartbeat": "<server time, RFC 3339>"}`: after `EVENTPULSE_WS_HEARTBEAT_S` (15) seconds
  with nothing else sent.
- `{"gap": true, "since": ..., "first_cursor": ..., "detail": ...}`: first, and only with
  `since`, when anomalies after `since` were already trimmed from the feed; the anomalies that
  follow start at the oldest kept one (`GET /anomalies` still has every stored anomaly).

Without `since` a connection gets the anomalies appended after it opened. Every anomaly
message carries its cursor: reconnect with `since=<last cursor received>` to get every
anomaly after it, then live ones, each once and in order, with nothing missed in between.
Messages from the client are ignored.

**Close codes**: `4422` a bad query parameter (the reason names it; do not retry as is);
`4401` no valid API key, `4403` a key without the `read` scope (do not retry as is);
`4408` client too slow (more than `EVENTPULSE_WS_QUEUE_SIZE` (1000) messages waiting for it, or
a send stalled for `EVENTPULSE_WS_SEND_TIMEOUT_S` (10) seconds); `1013` the anomaly feed (Redis)
is unavailable; `1012` the server restarts; `1011` an internal error or no answer to the
server's WebSocket ping (every 20 s, 20 s to answer). After 4408, 1013, 1012 or 1011, reconnect
(with backoff) with `since`.
"""

CLOSE_INVALID: Final = 4422
CLOSE_TOO_SLOW: Final = 4408
CLOSE_UNAVAILABLE: Final = 1013
CLOSE_INTERNAL: Final = 1011
_MAX_REASON_BYTES: Final = 123  # a close frame's limit

router = APIRouter(tags=["anomalies"])


@router.get(
    "/ws/anomalies",
    status_code=426,
    responses={426: {"model": ErrorOut}},
    summary="Live anomalies (WebSocket; this GET only documents the protocol)",
    description=PROTOCOL,
    dependencies=[READ],
)
async def describe_watch() -> Response:
    body = error_body("this is a WebSocket endpoint: connect with a WebSocket client")
    return json_response(body, 426, {"Upgrade": "websocket"})


@router.websocket("/ws/anomalies", dependencies=[READ_WEBSOCKET])
async def watch_anomalies(websocket: WebSocket) -> None:
    live: LiveAnomalies = websocket.app.state.services.live
    # Accepted first: a refused handshake cannot tell a browser why, a close reason can.
    await websocket.accept()
    outcome = await _watch(websocket, live)
    if outcome is not None:
        code, reason = outcome
        log.log(
            logging.INFO if code == CLOSE_INVALID else logging.WARNING,
            "closing a live anomaly client (%d): %s",
            code,
            reason,
        )
        await _close(websocket, code, reason, live.send_timeout_s)


async def _watch(websocket: WebSocket, live: LiveAnomalies) -> tuple[int, str] | None:
    """Serve the client until it leaves (None) or must be closed (code, reason)."""
    try:
        params = websocket.query_params.multi_items()
        request = parse_watch_request([(k, v) for k, v in params if k != TOKEN_PARAMETER])
        queue = await live.feed.subscribe()  # before reading the history: see AnomalyWatch
    except EventPulseError as exc:
        return _close_for(exc)
    try:
        watch = AnomalyWatch(request, live.history, queue)
        return await _serve(websocket, watch, queue, live)
    finally:
        live.feed.unsubscribe(queue)


async def _serve(
    websocket: WebSocket, watch: AnomalyWatch, queue: LiveQueue, live: LiveAnomalies
) -> tuple[int, str] | None:
    async def pump() -> BaseException | None:
        await _pump(websocket, watch, live)
        return None

    async def listen() -> BaseException | None:
        await _until_disconnect(websocket)
        return None  # the client left

    return _close_for(await _first(pump, listen, queue.ended))


async def _first(*steps: Callable[[], Awaitable[BaseException | None]]) -> BaseException | None:
    """Run `steps` together until one ends; what it returned or raised. The others are
    cancelled (an anyio task group, so that a cancelled request cancels them too)."""
    results: list[BaseException | None] = []

    async def run(step: Callable[[], Awaitable[BaseException | None]]) -> None:
        try:
            results.append(await step())
        except Exception as exc:  # an outcome to report, not a crash of the group
            results.append(exc)
        group.cancel_scope.cancel()

    async with anyio.create_task_group() as group:
        for step in steps:
            group.start_soon(run, step)
    return results[0]


async def _pump(websocket: WebSocket, watch: AnomalyWatch, live: LiveAnomalies) -> None:
    async for message in watch.history():
        await _send(websocket, message, live.send_timeout_s)
    while True:
        live_message = await watch.next_live(live.heartbeat_s)
        await _send(websocket, live_message or _heartbeat(), live.send_timeout_s)


async def _send(websocket: WebSocket, message: bytes, stall_s: float) -> None:
    try:
        async with asyncio.timeout(stall_s):
            await websocket.send_text(message.decode())
    except TimeoutError:
        raise ClientTooSlow(f"client too slow: a send stalled for {stall_s:g}s") from None


async def _until_disconnect(websocket: WebSocket) -> None:
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass  # client messages mean nothing here


def _heartbeat() -> bytes:
    return orjson.dumps({"heartbeat": datetime.now(UTC)})


def _close_for(error: BaseException | None) -> tuple[int, str] | None:
    if error is None or isinstance(error, WebSocketDisconnect | OSError):
        return None  # the client is gone
    if isinstance(error, InvalidInput):
        return CLOSE_INVALID, "; ".join(f"{e.field}: {e.message}" for e in error.errors)
    if isinstance(error, ClientTooSlow):
        return CLOSE_TOO_SLOW, str(error)
    if isinstance(error, StreamUnavailable):
        return CLOSE_UNAVAILABLE, f"anomaly feed unavailable: {error}"
    log.error("live anomaly client failed", exc_info=error)
    return CLOSE_INTERNAL, "internal error"


async def _close(websocket: WebSocket, code: int, reason: str, stall_s: float) -> None:
    fitted = reason.encode()[:_MAX_REASON_BYTES].decode(errors="ignore")
    # A client that reads nothing holds the close frame back too: it gets `stall_s` more.
    with contextlib.suppress(TimeoutError, RuntimeError, OSError, WebSocketDisconnect):
        async with asyncio.timeout(stall_s):
            await websocket.close(code, fitted)
