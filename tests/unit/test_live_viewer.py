"""The live viewer driven by a fake source and a manual pump: deduplication, filters, batching,
pause with overflow and resync, reconnects, stop, one viewer per kernel."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from eventpulse.workbench.live_state import Inbox, Received, Status
from eventpulse.workbench.live_viewer import LiveViewer


class FakeSource:
    def __init__(self) -> None:
        self.inbox: Inbox | None = None
        self.resyncs = 0
        self.stopped = False

    def start(self, inbox: Inbox) -> None:
        self.inbox = inbox

    def resync(self) -> None:
        self.resyncs += 1

    def stop(self, timeout: float = 5.0) -> None:
        self.stopped = True

    def send(self, *items: Received | Status) -> None:
        assert self.inbox is not None, "the viewer did not start its source"
        for item in items:
            self.inbox.put(item)


def anomaly(n: int, severity: str = "critical", rule_id: str = "cpu-high") -> Received:
    document: dict[str, Any] = {
        "anomaly_id": f"a{n}",
        "rule_id": rule_id,
        "rule_version": 1,
        "severity": severity,
        "group": {"source": f"host-{n % 3}"},
        "window_start": f"2026-11-27T10:{n // 60 % 60:02d}:{n % 60:02d}+00:00",
        "window_end": f"2026-11-27T10:{n // 60 % 60:02d}:{n % 60:02d}+00:00",
        "ts": f"2026-11-27T10:{n // 60 % 60:02d}:{n % 60:02d}+00:00",
        "value": float(n),
        "message": f"cpu at {n}",
        "details": {"n": n},
        "created_at": "2026-11-27T10:00:00+00:00",
    }
    return Received(f"1700000000000-{n}", document)


@pytest.fixture
def source() -> FakeSource:
    return FakeSource()


def viewer_on(source: FakeSource, **options: Any) -> LiveViewer:
    viewer = LiveViewer(source, interval_s=0, **options)  # manual pump
    return viewer


def table_ids(viewer: LiveViewer) -> list[str]:
    text = viewer.table.value
    return [part.split("'")[0] for part in text.split("data-anomaly-id='")[1:]]


def test_backfill_and_live_overlap_is_shown_once_newest_first(source: FakeSource) -> None:
    viewer = viewer_on(source)
    source.send(anomaly(1), anomaly(2), Status(True, "live"), anomaly(2), anomaly(3))

    assert viewer.pump() is True

    assert table_ids(viewer) == ["a3", "a2", "a1"]
    assert viewer.counters() == {
        "received": 4,
        "shown": 3,
        "dropped": 0,
        "duplicates": 1,
        "waiting": 0,
    }
    assert "live" in viewer.status_line.value
    viewer.stop()


def test_a_burst_is_one_batch_bounded_by_rows_and_points(source: FakeSource) -> None:
    viewer = viewer_on(source, rows=5, points=50)
    source.send(*(anomaly(n, severity="warning" if n % 2 else "critical") for n in range(300)))

    viewer.pump()

    assert table_ids(viewer) == [f"a{n}" for n in (299, 298, 297, 296, 295)]
    by_name = {trace.name: trace for trace in viewer.figure.data}
    assert len(by_name["critical"].x) + len(by_name["warning"].x) == 50
    assert len(by_name["info"].x) == 0
    assert viewer.counters()["shown"] == 300
    assert viewer.pump() is False  # nothing new: no redraw


def test_filters_preset_and_changed_in_the_ui(source: FakeSource) -> None:
    viewer = viewer_on(source, severity="critical")
    source.send(anomaly(1, "critical"), anomaly(2, "info"), anomaly(3, "critical", "disk-full"))
    viewer.pump()
    assert table_ids(viewer) == ["a3", "a1"]

    viewer.rule_filter.value = ["disk-full"]
    viewer.pump()
    assert table_ids(viewer) == ["a3"]

    viewer.rule_filter.value = []
    viewer.severity_filter.value = ("info",)
    viewer.pump()
    assert table_ids(viewer) == ["a2"]
    assert viewer.counters()["received"] == 3
    assert sorted(viewer.rule_filter.allowed_tags) == ["cpu-high", "disk-full"]


def test_pause_holds_updates_and_an_overflow_is_counted_then_resynced(source: FakeSource) -> None:
    viewer = viewer_on(source, inbox_size=10)
    source.send(anomaly(0))
    viewer.pump()
    viewer.pause_button.value = True  # the person clicks pause
    assert viewer.paused

    source.send(*(anomaly(n) for n in range(1, 16)))
    viewer.pump()
    assert table_ids(viewer) == ["a0"]
    assert viewer.counters()["waiting"] == 10

    viewer.pause_button.value = False
    viewer.pump()
    assert viewer.counters()["dropped"] == 5
    assert source.resyncs == 1  # the source backfills the latest ones again
    source.send(*(anomaly(n) for n in range(6, 16)))  # its backfill overlaps what was kept
    viewer.pump()
    assert table_ids(viewer)[:3] == ["a15", "a14", "a13"]
    assert viewer.counters()["shown"] == 16


def test_a_reconnect_shows_its_state_and_its_backfill_adds_only_new_ones(
    source: FakeSource,
) -> None:
    viewer = viewer_on(source)
    source.send(Status(True, "live"), anomaly(1), anomaly(2))
    viewer.pump()
    source.send(Status(False, "reconnecting: connection refused"))
    viewer.pump()
    assert "reconnecting" in viewer.status_line.value

    source.send(anomaly(1), anomaly(2), anomaly(3), Status(True, "live"))
    viewer.pump()
    assert table_ids(viewer) == ["a3", "a2", "a1"]
    assert viewer.counters()["duplicates"] == 2
    assert "live" in viewer.status_line.value


def test_details_of_the_chosen_anomaly(source: FakeSource) -> None:
    viewer = viewer_on(source)
    source.send(anomaly(1), anomaly(2))
    viewer.pump()
    viewer.details_pick.value = "a1"
    assert '"anomaly_id": "a1"' in viewer.details.value.replace("&quot;", '"')
    source.send(anomaly(3))
    viewer.pump()
    assert viewer.details_pick.value == "a1"  # a redraw keeps the choice


def test_stop_ends_the_source_and_a_new_viewer_stops_the_previous_one(
    source: FakeSource,
) -> None:
    first = viewer_on(source)
    other = FakeSource()
    second = viewer_on(other)
    assert source.stopped and first.stopped
    assert not other.stopped
    assert "stopped" in first.status_line.value

    other.send(anomaly(1))
    second.stop_button.click()
    assert other.stopped and second.stopped
    assert second.pump() is False


def test_the_pump_thread_applies_updates_by_itself(source: FakeSource) -> None:
    viewer = LiveViewer(source, interval_s=0.05)
    try:
        source.send(anomaly(7))
        deadline = time.monotonic() + 5
        while table_ids(viewer) != ["a7"]:
            assert time.monotonic() < deadline, "the pump never applied the anomaly"
            time.sleep(0.02)
    finally:
        viewer.stop()


def test_the_anomalies_frame_has_typed_times(source: FakeSource) -> None:
    viewer = viewer_on(source)
    source.send(anomaly(1), anomaly(2))
    viewer.pump()
    frame = viewer.anomalies()
    assert list(frame["anomaly_id"]) == ["a2", "a1"]
    assert str(frame["ts"].dtype).startswith("datetime64")


def test_only_the_latest_are_kept_by_feed_order_whatever_the_arrival_order(
    source: FakeSource,
) -> None:
    viewer = viewer_on(source, keep=3)
    source.send(anomaly(5), anomaly(1), anomaly(4), anomaly(2), anomaly(3), anomaly(6))
    viewer.pump()
    assert table_ids(viewer) == ["a6", "a5", "a4"]
    source.send(anomaly(1))  # evicted, so not remembered as shown; still known as received
    viewer.pump()
    assert table_ids(viewer) == ["a6", "a5", "a4"]
    assert viewer.counters()["duplicates"] == 1


def test_browser_changes_and_the_pump_thread_do_not_race(
    source: FakeSource, caplog: pytest.LogCaptureFixture
) -> None:
    """The kernel's thread applies the browser's picks (`set_state`, as a comm message does)
    while the pump's thread redraws the same widgets with new anomalies."""
    caplog.set_level(logging.ERROR, logger="eventpulse.workbench.live")
    viewer = LiveViewer(source, interval_s=0.001, rows=5)
    try:
        source.send(*(anomaly(n) for n in range(5)))
        deadline = time.monotonic() + 5
        while len(viewer.details_pick.options) < 5:  # from now on the browser sees 5 options
            assert time.monotonic() < deadline, "the pump never drew the first anomalies"
            time.sleep(0.01)
        for n in range(5, 3000):
            source.send(anomaly(n))  # every one critical: the severity filter keeps 5 options
            viewer.details_pick.set_state({"index": n % 5})
            viewer.severity_filter.set_state({"index": [0] if n % 2 else []})
        deadline = time.monotonic() + 10
        while viewer.counters()["received"] < 3000:
            assert time.monotonic() < deadline, "the pump never applied every anomaly"
            time.sleep(0.01)
    finally:
        viewer.stop()
    assert [r.getMessage() for r in caplog.records] == []  # the pump never failed
