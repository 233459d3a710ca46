"""What each channel sends: Slack blocks, e-mail subject and bodies, the signed webhook body."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import orjson

from eventpulse.domain.notifications import Notification, summarize
from eventpulse.infrastructure.notifier_email import email_message
from eventpulse.infrastructure.notifier_slack import slack_message
from eventpulse.infrastructure.notifier_webhook import signature, webhook_body
from eventpulse.infrastructure.notify_channel_config import EmailSettings

API = "http://api.example:8000"
ANOMALY: dict[str, Any] = {
    "anomaly_id": "a/1",
    "rule_id": "cpu-high",
    "rule_version": 3,
    "severity": "critical",
    "group": {"source": "host-<1>"},
    "window_start": "2024-03-01T00:00:00Z",
    "window_end": "2024-03-01T00:05:00Z",
    "ts": "2024-03-01T00:05:00Z",
    "value": 97.25,
    "message": "CPU <b>97%</b> & rising",
    "details": {},
    "created_at": "2024-03-01T00:05:01Z",
}
SETTINGS = EmailSettings("127.0.0.1", 25, False, False, "ep@example.com", ("a@x", "b@x"))


def single() -> Notification:
    return Notification("oncall", (ANOMALY,))


def digest(count: int) -> Notification:
    anomalies = tuple(
        {**ANOMALY, "anomaly_id": f"a{i}", "severity": "warning" if i % 2 else "critical"}
        for i in range(count)
    )
    return Notification("batch", anomalies, summarize("d1", anomalies, 3, "t0", "t1"))


def all_text(blocks: list[dict[str, Any]]) -> str:
    return orjson.dumps(blocks).decode()


def test_a_slack_message_shows_rule_severity_group_value_window_message_and_a_link() -> None:
    message = slack_message(single(), API)
    blocks = message["blocks"]
    assert blocks[0]["type"] == "header"
    assert "CRITICAL" in blocks[0]["text"]["text"] and "cpu-high" in blocks[0]["text"]["text"]
    fields = [f["text"] for f in blocks[1]["fields"]]
    assert fields[0].startswith("*Rule*\ncpu-high (version 3)")
    assert "*Group*\nsource=host-&lt;1&gt;" in fields
    assert "*Value*\n97.25" in fields
    assert any(
        f.startswith("*Window*\n2024-03-01T00:00:00Z → 2024-03-01T00:05:00Z") for f in fields
    )
    assert blocks[2]["text"]["text"] == "CPU &lt;b&gt;97%&lt;/b&gt; &amp; rising"
    button = blocks[3]["elements"][0]
    assert button["url"] == f"{API}/api/v1/anomalies/a%2F1"
    assert message["text"] == "[EventPulse] CRITICAL cpu-high source=host-<1>"


def test_a_slack_digest_counts_by_rule_and_severity_and_lists_the_first_anomalies() -> None:
    blocks = slack_message(digest(5), API)["blocks"]
    assert blocks[0]["text"]["text"] == "EventPulse digest: 5 anomalies"
    by_rule, by_severity = (f["text"] for f in blocks[1]["fields"])
    assert "cpu-high: 5" in by_rule
    assert "critical: 3" in by_severity and "warning: 2" in by_severity
    listed = blocks[2]["text"]["text"]
    assert listed.count(f"<{API}/api/v1/anomalies/a") == 3
    assert "… and 2 more" in blocks[3]["elements"][0]["text"]


def test_slack_text_is_cut_to_the_block_limits() -> None:
    long = {**ANOMALY, "message": "x" * 5000, "rule_id": "r" * 300}
    blocks = slack_message(Notification("r", (long,)), API)["blocks"]
    assert len(blocks[0]["text"]["text"]) <= 150
    assert len(blocks[2]["text"]["text"]) <= 3000


def test_an_email_has_the_subject_and_a_plain_and_an_escaped_html_body() -> None:
    message = email_message(single(), SETTINGS, API)
    assert message["Subject"] == "[EventPulse] CRITICAL cpu-high source=host-<1>"
    assert message["To"] == "a@x, b@x"
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None and html is not None
    text = plain.get_content()
    assert "Severity: critical" in text and "CPU <b>97%</b> & rising" in text
    assert f"Details: {API}/api/v1/anomalies/a%2F1" in text
    markup = html.get_content()
    assert "CPU &lt;b&gt;97%&lt;/b&gt; &amp; rising" in markup
    assert "host-&lt;1&gt;" in markup and "<b>97%" not in markup
    assert f'href="{API}/api/v1/anomalies/a%2F1"' in markup


def test_a_digest_email_summarises_and_lists() -> None:
    message = email_message(digest(12), SETTINGS, API)
    assert message["Subject"] == "[EventPulse] digest: 12 anomalies (6 critical, 6 warning)"
    plain = message.get_body(("plain",))
    assert plain is not None
    text = plain.get_content()
    assert "cpu-high: 12" in text and "… and 9 more" in text


def test_the_webhook_body_is_the_anomaly_document_and_its_signature_an_hmac_of_it() -> None:
    body = webhook_body(single())
    assert orjson.loads(body) == ANOMALY
    expected = hmac.new(b"k3y", body, hashlib.sha256).hexdigest()
    assert signature("k3y", body) == f"sha256={expected}"
    assert signature("other", body) != signature("k3y", body)


def test_a_digest_webhook_carries_the_summary_and_every_anomaly() -> None:
    body = orjson.loads(webhook_body(digest(12)))
    assert body["digest"]["count"] == 12 and body["digest"]["digest_id"] == "d1"
    assert len(body["anomalies"]) == 12
