"""The generic JSON webhook channel. The body is the anomaly document (a digest's is
`{"digest": {...summary}, "anomalies": [...every anomaly...]}`), signed with HMAC-SHA256 of
the exact body bytes: `X-EventPulse-Signature: sha256=<hex>`."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from typing import Final

import orjson

from eventpulse.domain.notifications import Notification
from eventpulse.infrastructure.notifier_http import http_client, post

SIGNATURE_HEADER: Final = "X-EventPulse-Signature"


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_body(notification: Notification) -> bytes:
    if notification.digest is None:
        return orjson.dumps(dict(notification.anomalies[0]))
    summary = dataclasses.asdict(notification.digest)
    del summary["listed"]  # every anomaly follows in full
    summary["route"] = notification.route
    return orjson.dumps({"digest": summary, "anomalies": [dict(a) for a in notification.anomalies]})


class WebhookSender:
    def __init__(self, url: str, secret: str, concurrency: int) -> None:
        self._url = url
        self._secret = secret
        self._client = http_client(concurrency)

    async def send(self, notification: Notification) -> None:
        body = webhook_body(notification)
        digest = notification.digest
        delivery = digest.digest_id if digest else str(notification.anomalies[0]["anomaly_id"])
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(self._secret, body),
            "X-EventPulse-Delivery": delivery,
        }
        await post(self._client, self._url, body, headers)

    async def close(self) -> None:
        await self._client.aclose()
