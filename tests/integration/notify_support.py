"""Stand-ins for the notifier's far ends, all real servers on 127.0.0.1: an HTTP receiver
(Slack or a webhook) that can fail, hang or be slow, and an SMTP server (aiosmtpd). Also
anomaly documents appended straight to the feed, and the delivery records."""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import psycopg
import redis
from aiosmtpd.controller import Controller

from eventpulse.infrastructure.redis_anomaly_consumer import GROUP
from eventpulse.infrastructure.redis_anomaly_feed import FEED_FIELD, feed_key
from tests.support import free_port

SECRET = "webhook-secret"


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return orjson.loads(self.body)

    @property
    def signed_correctly(self) -> bool:
        expected = "sha256=" + hmac.new(SECRET.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(self.headers.get("x-eventpulse-signature", ""), expected)


@dataclass
class Behaviour:
    """How one path answers: the first `fail_first` requests per delivery (anomaly or digest)
    get a 500, or all do (`always_fail`), or each waits `delay_s` (`hang`: longer than any
    timeout) before answering."""

    fail_first: int = 0
    always_fail: bool = False
    delay_s: float = 0.0


@dataclass
class Receiver:
    server: ThreadingHTTPServer
    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    answered: list[tuple[Received, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    seen: dict[tuple[str, str], int] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def successes(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r, status in self.answered if r.path == path and status == 200]

    def requests(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]

    def answer(self, request: Received) -> int:
        behaviour = self.behaviours.get(request.path, Behaviour())
        key = (request.path, request.headers.get("x-eventpulse-delivery", str(len(self.seen))))
        with self.lock:
            self.received.append(request)
            self.seen[key] = self.seen.get(key, 0) + 1
            count = self.seen[key]
        if behaviour.delay_s:
            time.sleep(behaviour.delay_s)
        failing = behaviour.always_fail or count <= behaviour.fail_first
        status = 500 if failing else 200
        with self.lock:
            self.answered.append((request, status))
        return status


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            headers = {k.lower(): v for k, v in self.headers.items()}
            status = receiver.answer(Received(self.path, headers, body, time.monotonic()))
            try:
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:  # the notifier gave up waiting (its timeout)
                pass

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return Handler


@contextmanager
def http_receiver(**behaviours: Behaviour) -> Iterator[Receiver]:
    """`behaviours` by path without the leading slash: `slack=Behaviour(...)` → `/slack`."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    server.daemon_threads = True
    receiver = Receiver(server, {f"/{k}": v for k, v in behaviours.items()})
    server.RequestHandlerClass = _handler(receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"


@contextmanager
def smtp_server() -> Iterator[tuple[int, _Inbox]]:
    inbox = _Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


def anomaly_doc(
    anomaly_id: str, *, rule_id: str = "cpu-high", severity: str = "critical", **extra: Any
) -> dict[str, Any]:
    return {
        "anomaly_id": anomaly_id,
        "rule_id": rule_id,
        "rule_version": 1,
        "severity": severity,
        "group": {"source": "host-1"},
        "window_start": "2024-03-01T00:00:00Z",
        "window_end": "2024-03-01T00:05:00Z",
        "ts": "2024-03-01T00:05:00Z",
        "value": 97.5,
        "message": f"CPU high on host-1 ({anomaly_id})",
        "details": {},
        "created_at": "2024-03-01T00:05:01Z",
        **extra,
    }


def append_anomalies(client: redis.Redis, namespace: str, docs: list[dict[str, Any]]) -> None:
    pipe = client.pipeline(transaction=False)
    for doc in docs:
        pipe.xadd(feed_key(namespace), {FEED_FIELD: orjson.dumps(doc)})
    pipe.execute()


def deliveries(db: psycopg.Connection[Any], channel: str | None = None) -> list[tuple[Any, ...]]:
    """(anomaly_id, channel, attempt, status, error, details) in insertion order."""
    sql = "SELECT anomaly_id, channel, attempt, status, error, details FROM notification_deliveries"
    if channel is None:
        return db.execute(sql + " ORDER BY delivery_id").fetchall()
    return db.execute(sql + " WHERE channel = %s ORDER BY delivery_id", (channel,)).fetchall()


def statuses(db: psycopg.Connection[Any], channel: str, status: str) -> list[str]:
    return [row[0] for row in deliveries(db, channel) if row[3] == status]


def notifier_pending(client: redis.Redis, namespace: str) -> int:
    try:
        return int(client.xpending(feed_key(namespace), GROUP)["pending"])
    except redis.ResponseError:  # no group yet
        return -1
