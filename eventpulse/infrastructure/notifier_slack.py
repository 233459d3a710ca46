"""The Slack channel: an incoming webhook, one Block Kit message per notification.

A single anomaly shows a header (severity and rule), its facts as fields (rule, severity,
group, value, window, time), its message and a button linking to the API's
`/api/v1/anomalies/{id}`; a digest shows the counts by rule and by severity and its first
anomalies, each linked. Text from anomalies is escaped for Slack's mrkdwn (`&`, `<`, `>`).
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from eventpulse.application.notify_messages import anomaly_url, facts, one_line, subject
from eventpulse.domain.notifications import DigestSummary, Notification
from eventpulse.infrastructure.notifier_http import http_client, post

_EMOJI: Final = {"critical": ":red_circle:", "warning": ":large_orange_circle:"}
_SECTION_CHARS: Final = 3000
_FIELD_CHARS: Final = 2000
_HEADER_CHARS: Final = 150


def escape(text: object) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": _cut(text, _HEADER_CHARS)}}


def _mrkdwn(text: str, limit: int = _SECTION_CHARS) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": _cut(text, limit)}


def slack_message(notification: Notification, api_url: str) -> dict[str, Any]:
    if notification.digest is not None:
        return _digest_message(notification, notification.digest, api_url)
    anomaly = notification.anomalies[0]
    severity = str(anomaly["severity"])
    link = anomaly_url(api_url, str(anomaly["anomaly_id"]))
    blocks: list[dict[str, Any]] = [
        _header(
            f"{_EMOJI.get(severity, ':large_blue_circle:')} {severity.upper()}: "
            f"{anomaly['rule_id']}"
        ),
        {
            "type": "section",
            "fields": [
                _mrkdwn(f"*{label}*\n{escape(value)}", _FIELD_CHARS)
                for label, value in facts(anomaly)
            ],
        },
    ]
    if anomaly.get("message"):
        blocks.append({"type": "section", "text": _mrkdwn(escape(anomaly["message"]))})
    blocks.append(
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "View anomaly"},
                    "url": link,
                }
            ],
        }
    )
    context = f"anomaly `{escape(anomaly['anomaly_id'])}` · route {escape(notification.route)}"
    blocks.append({"type": "context", "elements": [_mrkdwn(context)]})
    return {"text": subject(notification), "blocks": blocks}


def _digest_message(
    notification: Notification, digest: DigestSummary, api_url: str
) -> dict[str, Any]:
    by_rule = "\n".join(f"• {escape(rule)}: {n}" for rule, n in digest.by_rule)
    by_severity = "\n".join(f"• {escape(sev)}: {n}" for sev, n in digest.by_severity)
    listed = "\n".join(
        f"• <{anomaly_url(api_url, str(a['anomaly_id']))}|{escape(one_line(a))}>"
        for a in digest.listed
    )
    more = digest.count - len(digest.listed)
    context = f"{escape(digest.opened_at)} to {escape(digest.closed_at)} · route " + escape(
        notification.route
    )
    if more > 0:
        context = f"… and {more} more · {context}"
    plural = "y" if digest.count == 1 else "ies"
    blocks = [
        _header(f"EventPulse digest: {digest.count} anomal{plural}"),
        {
            "type": "section",
            "fields": [
                _mrkdwn(f"*By rule*\n{by_rule}", _FIELD_CHARS),
                _mrkdwn(f"*By severity*\n{by_severity}", _FIELD_CHARS),
            ],
        },
        {"type": "section", "text": _mrkdwn(listed or "-")},
        {"type": "context", "elements": [_mrkdwn(context)]},
    ]
    return {"text": subject(notification), "blocks": blocks}


class SlackSender:
    def __init__(self, webhook_url: str, api_url: str, concurrency: int) -> None:
        self._url = webhook_url
        self._api_url = api_url
        self._client = http_client(concurrency)

    async def send(self, notification: Notification) -> None:
        body = orjson.dumps(slack_message(notification, self._api_url))
        await post(self._client, self._url, body, {"Content-Type": "application/json"})

    async def close(self) -> None:
        await self._client.aclose()
