"""The live anomaly viewer: an ipywidgets UI over the anomaly feed.

A source thread (`live_source.py`) reads into a bounded inbox; one pump, on its own thread a few
times a second (or called by hand: tests, `autostart=False`), folds what arrived into the state
(`live_state.py`) and applies the widget changes of a whole batch at once (`hold_sync`,
`batch_update`), so a burst of anomalies costs one redraw, not one per anomaly.

Only one viewer runs per kernel: starting one (re-running its cell) stops the previous one.

>>> viewer = wb.live_viewer(severity="critical")  # doctest: +SKIP
>>> viewer                                       # the cell's value shows the UI
>>> viewer.stop()
"""

from __future__ import annotations

import html
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any, Final

import ipywidgets as widgets
import orjson
import pandas as pd
import plotly.graph_objects as go

from eventpulse.workbench.frames import ANOMALY_COLUMNS
from eventpulse.workbench.live_rendering import (
    PRE_STYLE,
    counters_html,
    group_text,
    label,
    status_html,
    table_html,
    time_range,
)
from eventpulse.workbench.live_source import LiveSource
from eventpulse.workbench.live_state import SEVERITIES, Filters, Inbox, LiveState
from eventpulse.workbench.plots import SEVERITY_COLOURS

log = logging.getLogger("eventpulse.workbench.live")

PUMP_INTERVAL_S: Final = 0.25  # at most four redraws a second
MAX_BATCH: Final = 5000
_COLUMNS: Final = (*ANOMALY_COLUMNS, "details", "created_at")
_active: LiveViewer | None = None
_active_lock = threading.Lock()


class LiveViewer:
    def __init__(
        self,
        source: LiveSource,
        *,
        severity: str | Iterable[str] | None = None,
        rules: str | Iterable[str] | None = None,
        rule_options: Sequence[str] = (),
        rows: int = 20,
        points: int = 500,
        keep: int = 1000,
        inbox_size: int = 5000,
        interval_s: float = PUMP_INTERVAL_S,
        autostart: bool = True,
    ) -> None:
        """`severity`/`rules` preset the filters (None: all); `rows` anomalies in the table,
        `points` on the timeline, the latest `keep` held; an inbox of `inbox_size`."""
        self.state = LiveState(keep=keep, filters=Filters(_set(severity), _set(rules)))
        self._source = source
        self._inbox = Inbox(inbox_size)
        self._rows = rows
        self._points = points
        self._interval_s = interval_s
        self._lock = threading.RLock()
        self._paused = False
        self._dirty = True
        self._stopped = threading.Event()
        self._pump_thread: threading.Thread | None = None
        self._started = False
        self._span: list[str] | None = None
        self._build(sorted(set(rule_options) | self.state.filters.rule_ids))
        self._render()
        if autostart:
            self.start()

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> LiveViewer:
        """Start reading (and pumping, unless `interval_s` is 0); stops the kernel's previous
        viewer first."""
        global _active
        if self._stopped.is_set():
            raise RuntimeError("this viewer was stopped: create a new one (wb.live_viewer())")
        with _active_lock:
            previous, _active = _active, self
        if previous is not None and previous is not self:
            previous.stop()
        if self._started:
            return self
        self._started = True
        self._source.start(self._inbox)
        if self._interval_s > 0:
            self._pump_thread = threading.Thread(
                target=self._pump_forever, name="eventpulse-live-pump", daemon=True
            )
            self._pump_thread.start()
        return self

    def stop(self) -> None:
        """Stop reading and pumping; the UI keeps what it shows. Safe to call twice."""
        global _active
        self._stopped.set()
        self._source.stop()
        if self._pump_thread is not None and self._pump_thread is not threading.current_thread():
            self._pump_thread.join(5.0)
        with _active_lock:
            if _active is self:
                _active = None
        with self._lock:
            self.state.connected, self.state.status = False, "stopped"
            self._dirty = True
            self._render()

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    def pause(self) -> None:
        """Freeze the UI; anomalies wait in the inbox (beyond its bound they are dropped and
        counted, and a backfill after `resume` recovers the latest ones)."""
        with self._lock:
            self._paused = True
            self.pause_button.value = True

    def resume(self) -> None:
        with self._lock:
            self._paused = False
            self.pause_button.value = False

    @property
    def paused(self) -> bool:
        return self._paused

    def wait_live(self, timeout: float = 10.0) -> bool:
        """Wait until the viewer is subscribed and its backfill is applied (with a manual pump,
        pumping meanwhile); False if that took longer than `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not self.state.connected:
            if self._stopped.is_set() or time.monotonic() > deadline:
                return False
            if self._interval_s <= 0:
                self.pump()
            time.sleep(0.05)
        return True

    # --- the pump ----------------------------------------------------------------------------

    def pump(self) -> bool:
        """Fold what arrived into the state and redraw once; whether anything changed."""
        with self._lock:
            if self._stopped.is_set():
                return False
            if not self._paused:
                items, dropped = self._inbox.take(MAX_BATCH)
                if dropped:
                    self._source.resync()
                self._dirty |= self.state.apply(items, dropped)
            changed = self._dirty
            self._render()
            return changed

    def _pump_forever(self) -> None:
        while not self._stopped.wait(self._interval_s):
            try:
                self.pump()
            except Exception:  # a drawing error must not end the viewer
                log.exception("live viewer: applying updates failed")

    # --- what it shows -----------------------------------------------------------------------

    def anomalies(self) -> pd.DataFrame:
        """The anomalies shown now (filters applied), newest first, as a frame."""
        with self._lock:
            shown = self.state.shown()
        frame = pd.DataFrame([dict(a) for a in shown], columns=list(_COLUMNS))
        for column in ("ts", "window_start", "window_end", "created_at"):
            frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
        return frame

    def counters(self) -> dict[str, int]:
        with self._lock:
            c = self.state.counters
            return {
                "received": c.received,
                "shown": len(self.state.shown()),
                "dropped": c.dropped,
                "duplicates": c.duplicates,
                "waiting": len(self._inbox),
            }

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def _build(self, rule_options: list[str]) -> None:
        filters = self.state.filters
        self.severity_filter = widgets.SelectMultiple(
            options=list(SEVERITIES),
            value=tuple(s for s in SEVERITIES if s in filters.severities),
            description="severity",
            description_allow_html=True,
            tooltip="none selected: every severity",
            rows=3,
        )
        self.rule_filter = widgets.TagsInput(
            value=sorted(filters.rule_ids),
            allowed_tags=rule_options,
            allow_duplicates=False,
            placeholder="all rules",
        )
        self.pause_button = widgets.ToggleButton(value=False, description="pause")
        self.stop_button = widgets.Button(description="stop")  # no icons: their font is not offline
        self.status_line = widgets.HTML()
        self.counter_line = widgets.HTML()
        self.table = widgets.HTML()
        self.details_pick = widgets.Dropdown(
            options=[], description="details", layout={"width": "60%"}
        )
        self.details = widgets.HTML()
        self.figure = go.FigureWidget(
            data=[
                go.Scatter(
                    x=[],
                    y=[],
                    mode="markers",
                    name=severity,
                    marker={"color": SEVERITY_COLOURS[severity], "size": 10},
                    hovertemplate="%{x}<br>%{y}<br>%{text}<extra></extra>",
                )
                for severity in SEVERITIES
            ],
            layout={
                "height": 320,
                "margin": {"l": 10, "r": 10, "t": 30, "b": 30},
                "title": {"text": "live anomalies", "font": {"size": 14}},
                "yaxis": {"type": "category", "automargin": True},
                "xaxis": {"type": "date"},
            },
        )
        self.severity_filter.observe(self._filters_changed, names="value")
        self.rule_filter.observe(self._filters_changed, names="value")
        self.pause_button.observe(self._pause_toggled, names="value")
        self.stop_button.on_click(lambda _: self.stop())
        self.details_pick.observe(self._pick_changed, names="value")
        self.widget = widgets.VBox(
            [
                widgets.HBox(
                    [self.severity_filter, widgets.VBox([self.rule_filter, self.status_line])]
                ),
                widgets.HBox([self.pause_button, self.stop_button, self.counter_line]),
                self.figure,
                self.table,
                self.details_pick,
                self.details,
            ]
        )
        self.widget.add_class("eventpulse-live-viewer")
        for widget in (
            self.severity_filter,
            self.rule_filter,
            self.pause_button,
            self.details_pick,
            self.figure,
        ):
            _guard(widget, self._lock)

    def _filters_changed(self, _: Any) -> None:
        with self._lock:
            self.state.filters = Filters(
                frozenset(self.severity_filter.value), frozenset(self.rule_filter.value)
            )
            self._dirty = True

    def _pick_changed(self, _: Any) -> None:
        with self._lock:
            self._show_details()

    def _pause_toggled(self, change: Any) -> None:
        if change["new"] != self._paused:
            (self.pause if change["new"] else self.resume)()

    def _render(self) -> None:
        """Apply the state to the widgets, in one batch (called with the lock held)."""
        counters = self.counters()
        self.counter_line.value = counters_html(counters, self._paused)
        self.status_line.value = status_html(self.state.connected, self.state.status)
        if not self._dirty:
            return
        self._dirty = False
        shown = self.state.shown(max(self._points, self._rows))
        known = sorted(set(self.rule_filter.allowed_tags) | set(self.state.rule_ids()))
        with self.table.hold_sync(), self.details_pick.hold_sync(), self.rule_filter.hold_sync():
            if known != list(self.rule_filter.allowed_tags):
                self.rule_filter.allowed_tags = known
            self.table.value = table_html(shown[: self._rows])
            choice = self.details_pick.value
            options = [(label(a), str(a.get("anomaly_id"))) for a in shown[: self._rows]]
            if options != list(self.details_pick.options):
                self.details_pick.options = options
            ids = [value for _, value in options]
            pick = choice if choice in ids else (ids[0] if ids else None)
            if pick != self.details_pick.value:
                self.details_pick.value = pick
        plotted = shown[: self._points]
        with self.figure.batch_update():
            for trace, severity in zip(self.figure.data, SEVERITIES, strict=True):
                points = [a for a in plotted if a.get("severity") == severity]
                trace.x = [a.get("ts") for a in points]
                trace.y = [str(a.get("rule_id")) for a in points]
                trace.text = [html.escape(group_text(a)) for a in points]
            span = time_range([a.get("ts") for a in plotted])
            if span != self._span:  # a zoom of the person's is kept until the data outgrow it
                self._span = self.figure.layout.xaxis.range = span
        self._show_details()

    def _show_details(self) -> None:
        chosen = self.details_pick.value
        anomaly = next((a for a in self.state.shown() if a.get("anomaly_id") == chosen), None)
        body = "" if anomaly is None else orjson.dumps(anomaly, option=orjson.OPT_INDENT_2).decode()
        self.details.value = (
            f"<pre class='ep-details' style='{PRE_STYLE}'>{html.escape(body)}</pre>" if body else ""
        )


def _guard(widget: Any, lock: threading.RLock) -> None:
    """Apply the browser's changes to `widget` under `lock`. The kernel's thread applies them
    while the pump's thread draws under the lock, and ipywidgets' syncing state (`hold_sync`,
    property locks, a Dropdown's options and index) is not safe across threads."""
    apply = widget.set_state

    def set_state(sync_data: Any) -> None:
        with lock:
            apply(sync_data)

    widget.set_state = set_state


def _set(value: str | Iterable[str] | None) -> frozenset[str]:
    if value is None:
        return frozenset()
    return frozenset([value] if isinstance(value, str) else value)
