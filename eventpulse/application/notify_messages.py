"""What a notification says, in words: the subject line, the plain-text and HTML bodies (every
value from an anomaly is HTML-escaped), one line per anomaly, and the link back to the API."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from eventpulse.domain.notifications import DigestSummary, Notification

Anomaly = Mapping[str, Any]


def anomaly_url(api_url: str, anomaly_id: str) -> str:
    return f"{api_url.rstrip('/')}/api/v1/anomalies/{quote(anomaly_id, safe='')}"


def group_text(group: Mapping[str, Any] | None) -> str:
    if not group:
        return "(all)"
    return ", ".join(f"{key}={value}" for key, value in group.items())


def value_text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def subject(notification: Notification) -> str:
    if notification.digest is not None:
        digest = notification.digest
        severities = ", ".join(f"{n} {severity}" for severity, n in digest.by_severity)
        plural = "y" if digest.count == 1 else "ies"
        return f"[EventPulse] digest: {digest.count} anomal{plural} ({severities})"
    anomaly = notification.anomalies[0]
    return (
        f"[EventPulse] {str(anomaly['severity']).upper()} {anomaly['rule_id']} "
        f"{group_text(anomaly.get('group'))}"
    )


def facts(anomaly: Anomaly) -> list[tuple[str, str]]:
    """The labelled facts of one anomaly, in display order."""
    return [
        ("Rule", f"{anomaly['rule_id']} (version {anomaly.get('rule_version', '?')})"),
        ("Severity", str(anomaly["severity"])),
        ("Group", group_text(anomaly.get("group"))),
        ("Value", value_text(anomaly.get("value"))),
        ("Window", f"{anomaly.get('window_start', '?')} → {anomaly.get('window_end', '?')}"),
        ("Time", str(anomaly.get("ts", "?"))),
    ]


def one_line(anomaly: Anomaly) -> str:
    message = anomaly.get("message") or ""
    line = f"[{anomaly['severity']}] {anomaly['rule_id']} {group_text(anomaly.get('group'))}"
    return f"{line}: {message}" if message else line


def text_body(notification: Notification, api_url: str) -> str:
    if notification.digest is not None:
        return _digest_text(notification.digest, api_url)
    anomaly = notification.anomalies[0]
    lines = [f"{label}: {value}" for label, value in facts(anomaly)]
    if anomaly.get("message"):
        lines += ["", str(anomaly["message"])]
    lines += ["", f"Details: {anomaly_url(api_url, anomaly['anomaly_id'])}"]
    return "\n".join(lines) + "\n"


def _digest_text(digest: DigestSummary, api_url: str) -> str:
    lines = [f"{digest.count} anomalies between {digest.opened_at} and {digest.closed_at}", ""]
    lines += ["By rule:"] + [f"  {rule}: {n}" for rule, n in digest.by_rule]
    lines += ["By severity:"] + [f"  {severity}: {n}" for severity, n in digest.by_severity]
    lines += ["", "Anomalies:"]
    for anomaly in digest.listed:
        lines.append(f"- {one_line(anomaly)}")
        lines.append(f"  {anomaly_url(api_url, anomaly['anomaly_id'])}")
    if digest.count > len(digest.listed):
        lines.append(f"… and {digest.count - len(digest.listed)} more")
    return "\n".join(lines) + "\n"


def html_body(notification: Notification, api_url: str) -> str:
    if notification.digest is not None:
        return _digest_html(notification.digest, api_url)
    anomaly = notification.anomalies[0]
    rows = "".join(
        f"<tr><th align='left'>{_e(label)}</th><td>{_e(value)}</td></tr>"
        for label, value in facts(anomaly)
    )
    message = f"<p>{_e(anomaly['message'])}</p>" if anomaly.get("message") else ""
    link = anomaly_url(api_url, anomaly["anomaly_id"])
    return (
        f"<html><body><h2>{_e(subject(notification))}</h2><table>{rows}</table>{message}"
        f'<p><a href="{_e(link)}">View the anomaly</a></p></body></html>'
    )


def _digest_html(digest: DigestSummary, api_url: str) -> str:
    by_rule = "".join(f"<li>{_e(rule)}: {n}</li>" for rule, n in digest.by_rule)
    by_severity = "".join(f"<li>{_e(sev)}: {n}</li>" for sev, n in digest.by_severity)
    listed = "".join(
        f'<li><a href="{_e(anomaly_url(api_url, a["anomaly_id"]))}">{_e(one_line(a))}</a></li>'
        for a in digest.listed
    )
    more = digest.count - len(digest.listed)
    tail = f"<p>… and {more} more</p>" if more > 0 else ""
    return (
        f"<html><body><h2>{digest.count} anomalies</h2>"
        f"<p>{_e(digest.opened_at)} to {_e(digest.closed_at)}</p>"
        f"<h3>By rule</h3><ul>{by_rule}</ul><h3>By severity</h3><ul>{by_severity}</ul>"
        f"<h3>Anomalies</h3><ul>{listed}</ul>{tail}</body></html>"
    )


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)
