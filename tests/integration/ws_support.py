"""A WebSocket client of `/api/v1/ws/anomalies` for tests (the `websockets` sync client), and
anomaly documents to append to the feed with `RedisAnomalyFeed.publish`."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

Message = dict[str, Any]


def anomaly(n: int, *, severity: str = "critical", rule_id: str = "checkout", pad: int = 0) -> Any:
    """An anomaly document as the evaluating worker appends it; `pad` lengthens its message."""
    return {
        "anomaly_id": f"a{n:06d}",
        "rule_id": rule_id,
        "rule_version": 1,
        "severity": severity,
        "group": {"host": "web-1"},
        "window_start": "2024-03-01T00:00:00+00:00",
        "window_end": "2024-03-01T00:05:00+00:00",
        "ts": "2024-03-01T00:05:00+00:00",
        "value": float(n),
        "message": f"anomaly {n} " + "x" * pad,
        "details": {},
        "created_at": "2024-03-01T00:05:01+00:00",
    }


@contextmanager
def watching(api_url: str, *, receive_buffer: int | None = None, **params: str) -> Iterator[Any]:
    """A connection to the anomaly WebSocket. With `receive_buffer` the client's socket and
    queue are tiny and uncompressed, so a client that stops reading backs up at once."""
    url = api_url.replace("http://", "ws://") + "/api/v1/ws/anomalies"
    if params:
        url += "?" + urlencode(params)
    options: dict[str, Any] = {"proxy": None, "open_timeout": 10, "close_timeout": 2}
    if receive_buffer is not None:
        host, port = api_url.removeprefix("http://").split(":")
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.connect((host, int(port)))
        options |= {"sock": sock, "compression": None, "max_queue": 1}
    with connect(url, **options) as ws:
        yield ws


def receive(ws: ClientConnection, timeout: float = 10.0) -> Message:
    message: Message = json.loads(ws.recv(timeout=timeout))
    return message


def anomalies(ws: ClientConnection, count: int, timeout: float = 30.0) -> list[Message]:
    """The next `count` anomaly messages (heartbeats skipped), within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    found: list[Message] = []
    while len(found) < count:
        message = receive(ws, max(0.01, deadline - time.monotonic()))
        if "heartbeat" not in message:
            found.append(message)
    return found


def heartbeat(ws: ClientConnection, timeout: float = 10.0) -> Message:
    """The next message, a heartbeat: the connection is subscribed and idle (live mode)."""
    message = receive(ws, timeout)
    assert "heartbeat" in message, f"expected a heartbeat first, got {message}"
    return message


def closing(ws: ClientConnection, timeout: float = 30.0) -> tuple[int, str, list[Message]]:
    """Read until the server closes: its close code and reason, and the messages before."""
    deadline = time.monotonic() + timeout
    before: list[Message] = []
    try:
        while True:
            before.append(receive(ws, max(0.01, deadline - time.monotonic())))
    except ConnectionClosed as closed:
        assert closed.rcvd is not None, f"closed without a close frame: {closed}"
        return closed.rcvd.code, closed.rcvd.reason, before
