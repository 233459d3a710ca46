"""What the live viewer draws, as HTML and plotly values: the table of the latest anomalies,
the counters, the connection status, an anomaly's label and the timeline's time span."""

from __future__ import annotations

import html
from typing import Any, Final

import pandas as pd

from eventpulse.workbench.frames import group_label
from eventpulse.workbench.live_state import Anomaly
from eventpulse.workbench.plots import SEVERITY_COLOURS

TABLE_STYLE: Final = """<style>
.ep-anomalies { border-collapse: collapse; font-size: 13px; width: 100%; }
.ep-anomalies th { text-align: left; border-bottom: 2px solid #ccc; padding: 4px 8px; }
.ep-anomalies td { border-bottom: 1px solid #eee; padding: 3px 8px; vertical-align: top; }
.ep-anomalies td:first-child { font-family: monospace; white-space: nowrap; }
</style>"""
PRE_STYLE: Final = "font-size: 12px; line-height: 1.35; max-height: 320px; overflow: auto"


def group_text(anomaly: Anomaly) -> str:
    group = anomaly.get("group")
    return group_label(group) if isinstance(group, dict) else ""


def label(anomaly: Anomaly) -> str:
    return f"{anomaly.get('ts')} · {anomaly.get('rule_id')} · {group_text(anomaly)}"


def counters_html(counters: dict[str, int], paused: bool) -> str:
    parts = [f"{name} <b class='ep-{name}'>{value:,}</b>" for name, value in counters.items()]
    state = " · <b>paused</b>" if paused else ""
    return f"<span class='ep-counters'>{' · '.join(parts)}{state}</span>"


def status_html(connected: bool, detail: str) -> str:
    colour = "#2ca02c" if connected else "#d62728"
    return f"<span class='ep-status' style='color:{colour}'>● {html.escape(detail)}</span>"


def table_html(anomalies: list[Anomaly]) -> str:
    if not anomalies:
        return "<p class='ep-empty'><i>no anomalies yet</i></p>"
    head = "".join(f"<th>{h}</th>" for h in ("ts", "severity", "rule", "group", "value", "message"))
    rows = []
    for a in anomalies:
        severity = str(a.get("severity"))
        colour = SEVERITY_COLOURS.get(severity, "#7f7f7f")
        cells = [
            str(a.get("ts")),
            f"<span style='color:{colour}'>{html.escape(severity)}</span>",
            html.escape(str(a.get("rule_id"))),
            html.escape(group_text(a)),
            "" if a.get("value") is None else html.escape(str(a.get("value"))),
            html.escape(str(a.get("message") or "")),
        ]
        row = "".join(f"<td>{c}</td>" for c in cells)
        rows.append(f"<tr data-anomaly-id='{html.escape(str(a.get('anomaly_id')))}'>{row}</tr>")
    return f"{TABLE_STYLE}<table class='ep-anomalies'><tr>{head}</tr>{''.join(rows)}</table>"


def time_range(times: list[Any]) -> list[str] | None:
    """The timeline's span: the anomalies' times padded by 5% (at least a minute each side),
    so that one anomaly does not stretch the axis to microseconds."""
    stamps = pd.to_datetime([t for t in times if t], utc=True, format="ISO8601", errors="coerce")
    stamps = stamps.dropna()
    if stamps.empty:
        return None
    low, high = stamps.min(), stamps.max()
    pad = max((high - low) * 0.05, pd.Timedelta(minutes=1))
    return [(low - pad).isoformat(), (high + pad).isoformat()]
