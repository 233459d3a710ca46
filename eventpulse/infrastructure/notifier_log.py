"""The `log` channel: each notification becomes one log line. It needs no secret, so the
example config (and `eventpulse up` with nothing configured) has a working route."""

from __future__ import annotations

import logging

from eventpulse.application.notify_messages import anomaly_url, one_line
from eventpulse.domain.notifications import Notification

log = logging.getLogger("eventpulse.notify.log")


class LogSender:
    def __init__(self, channel: str, api_url: str) -> None:
        self._channel = channel
        self._api_url = api_url

    async def send(self, notification: Notification) -> None:
        if notification.digest is not None:
            digest = notification.digest
            rules = ", ".join(f"{rule}: {n}" for rule, n in digest.by_rule)
            log.info("[%s] digest of %d anomalies (%s)", self._channel, digest.count, rules)
            return
        anomaly = notification.anomalies[0]
        log.info(
            "[%s] %s %s",
            self._channel,
            one_line(anomaly),
            anomaly_url(self._api_url, anomaly["anomaly_id"]),
            extra={"anomaly_id": anomaly["anomaly_id"], "channel": self._channel},
        )

    async def close(self) -> None:
        return None
