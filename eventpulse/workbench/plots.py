"""Plotly figures of anomalies and events. Each function returns the figure and displays
nothing: a notebook shows it as a cell's value, a report embeds it, a test inspects it.

Labelled incidents (anything `score` accepts as labels) are shaded; by default only those of
the series the plotted anomalies or events are on. Every figure has a range slider on its time
axis. Figures need no network: see `eventpulse.workbench.display.setup_notebook` for showing
them offline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import pandas as pd
import plotly.graph_objects as go
from pandas.tseries.frequencies import to_offset

from eventpulse.application.labels import Incident
from eventpulse.workbench.frames import group_label
from eventpulse.workbench.scoring import LabelsInput, incidents_from
from eventpulse.workbench.times import Duration, duration

SEVERITY_COLOURS: Final = {"critical": "#d62728", "warning": "#ff7f0e", "info": "#1f77b4"}
INCIDENT_COLOUR: Final = "rgba(214, 39, 40, 0.12)"


def timeline(
    anomalies: pd.DataFrame,
    *,
    labels: LabelsInput | None = None,
    series: str | Sequence[str] | None = None,
    title: str | None = None,
) -> go.Figure:
    """One row per rule and group: each anomaly a marker at its `ts` (colour: severity) with
    its window drawn behind it; labelled incidents shaded.

    >>> timeline(result.anomalies, labels="data/nab/labels/combined_windows.json")  # doctest: +SKIP
    """
    figure = go.Figure()
    rows = [
        f"{r} · {group_label(g)}"
        for r, g in zip(anomalies["rule_id"], anomalies["group"], strict=True)
    ]
    frame = anomalies.assign(row=rows)
    for severity, part in frame.groupby("severity", sort=False):
        colour = SEVERITY_COLOURS.get(str(severity), "#7f7f7f")
        figure.add_trace(_window_segments(part, colour))
        figure.add_trace(
            go.Scatter(
                x=part["ts"],
                y=part["row"],
                mode="markers",
                name=str(severity),
                marker={"color": colour, "size": 9, "line": {"width": 1, "color": "white"}},
                customdata=list(
                    zip(
                        part["value"],
                        part["window_start"],
                        part["window_end"],
                        part["message"],
                        strict=True,
                    )
                ),
                hovertemplate=(
                    "%{x}<br>value %{customdata[0]}<br>window %{customdata[1]} .. "
                    "%{customdata[2]}<br>%{customdata[3]}<extra>%{y}</extra>"
                ),
            )
        )
    sources = _sources(anomalies)
    _shade(figure, _incidents(labels, series, sources))
    figure.update_layout(
        title=title or f"{len(anomalies)} anomalies",
        yaxis={"title": None, "type": "category", "automargin": True},
        legend_title="severity",
        height=max(300, 120 + 40 * max(1, frame["row"].nunique())),
    )
    figure.update_xaxes(type="date", rangeslider_visible=True, title="event time (UTC)")
    return figure


def event_rate(
    events: pd.DataFrame,
    *,
    anomalies: pd.DataFrame | None = None,
    value: str | None = None,
    freq: Duration = "1h",
    by: str = "source",
    labels: LabelsInput | None = None,
    series: str | Sequence[str] | None = None,
    title: str | None = None,
) -> go.Figure:
    """Events per `freq` interval per `by` (or the mean of the column `value`, such as
    `payload.value`), one line each, with anomalies overlaid as markers on the line of their
    group's `by` field (or at their own value) and labelled incidents shaded.

    >>> event_rate(df, value="payload.value", anomalies=result.anomalies)  # doctest: +SKIP
    """
    step = pd.Timedelta(duration(freq))
    grouped = events.groupby([by, pd.Grouper(key="ts", freq=to_offset(step))])
    rate = grouped[value].mean() if value is not None else grouped.size()
    figure = go.Figure()
    lines: dict[str, pd.Series] = {}
    for key, part in rate.groupby(level=0, sort=True):
        line = part.droplevel(0)
        lines[str(key)] = line
        figure.add_trace(go.Scatter(x=line.index, y=line.values, mode="lines", name=str(key)))
    if anomalies is not None and not anomalies.empty:
        figure.add_trace(_anomaly_markers(anomalies, lines, by, step))
    _shade(figure, _incidents(labels, series, sorted(lines)))
    measure = f"mean {value}" if value is not None else "events"
    figure.update_layout(
        title=title or f"{measure} per {freq} by {by}",
        yaxis_title=f"{measure} per {freq}",
        legend_title=by,
    )
    figure.update_xaxes(type="date", rangeslider_visible=True, title="event time (UTC)")
    return figure


def _window_segments(part: pd.DataFrame, colour: str) -> go.Scatter:
    xs: list[Any] = []
    ys: list[Any] = []
    for start, end, row in zip(part["window_start"], part["window_end"], part["row"], strict=True):
        xs += [start, end, None]
        ys += [row, row, None]
    return go.Scatter(
        x=xs,
        y=ys,
        mode="lines",
        line={"color": colour, "width": 8},
        opacity=0.35,
        hoverinfo="skip",
        showlegend=False,
    )


def _anomaly_markers(
    anomalies: pd.DataFrame, lines: Mapping[str, pd.Series], by: str, step: pd.Timedelta
) -> go.Scatter:
    ys: list[Any] = []
    for group, ts, own in zip(anomalies["group"], anomalies["ts"], anomalies["value"], strict=True):
        line = lines.get(str(group.get(by)))
        bucket = ts.floor(step)
        ys.append(line.get(bucket, own) if line is not None else own)
    return go.Scatter(
        x=anomalies["ts"],
        y=ys,
        mode="markers",
        name="anomalies",
        marker={"symbol": "x", "size": 11, "color": SEVERITY_COLOURS["critical"]},
        text=anomalies["message"],
        hovertemplate="%{x}<br>%{text}<extra>anomaly</extra>",
    )


def _sources(anomalies: pd.DataFrame) -> list[str]:
    return sorted({str(g["source"]) for g in anomalies["group"] if "source" in g})


def _incidents(
    labels: LabelsInput | None, series: str | Sequence[str] | None, seen: Sequence[str]
) -> list[Incident]:
    if labels is None:
        return []
    wanted = [series] if isinstance(series, str) else list(series or seen)
    found = incidents_from(labels, default_series=wanted[0] if wanted else None)
    return [i for i in found if not wanted or i.series in wanted]


def _shade(figure: go.Figure, incidents: Sequence[Incident]) -> None:
    for incident in incidents:
        figure.add_vrect(
            x0=incident.window.start,
            x1=incident.window.end,
            fillcolor=INCIDENT_COLOUR,
            line_width=0,
            layer="below",
            annotation_text=incident.name,
            annotation_position="top left",
            annotation_font_size=10,
        )
