"""DataFrames of events and anomalies, the result wrapper, and the figures built from them."""

from __future__ import annotations

from array import array

import orjson
import pandas as pd
import pytest

from eventpulse.infrastructure.postgres_event_columns import POSTGRES_EPOCH_US, EventColumns
from eventpulse.workbench import event_rate, timeline
from eventpulse.workbench.display import RENDERER, setup_notebook
from eventpulse.workbench.frames import events_frame, flat_columns, payload_columns
from tests.unit.workbench.support import DAY0, anomaly, result

UNIX_DAY0_US = int(DAY0.timestamp() * 1_000_000)


def columns(payloads: list[dict[str, object]]) -> EventColumns:
    size = len(payloads)
    times = array("q", [UNIX_DAY0_US - POSTGRES_EPOCH_US + i * 60_000_000 for i in range(size)])
    return EventColumns(
        event_id=[f"00000000-0000-0000-0000-{i:012d}" for i in range(size)],
        event_type=["metric"] * size,
        source=["a" if i % 2 else "b" for i in range(size)],
        ts_pg_us=times,
        received_pg_us=times,
        payload_lines=b"\n".join(orjson.dumps(p) for p in payloads),
    )


PAYLOADS: list[dict[str, object]] = [
    {"value": 1.5, "host": "h1", "http": {"status": 200, "path": "/"}, "tags": ["x"]},
    {"value": 2, "host": "h2", "http": {"status": 500}},
    {"level": "error", "n": 3},
    {},
]


def test_events_are_columns_with_utc_times_and_flattened_payload_fields() -> None:
    frame = events_frame(columns(PAYLOADS), flatten_payload=True)

    assert list(frame.columns[:5]) == ["event_id", "event_type", "source", "ts", "received_at"]
    assert str(frame["ts"].dtype) == "datetime64[us, UTC]"
    assert frame["ts"].iloc[1] == pd.Timestamp(DAY0) + pd.Timedelta(minutes=1)
    assert frame["payload.value"].tolist()[:2] == [1.5, 2.0]
    assert frame["payload.value"].isna().tolist() == [False, False, True, True]
    assert frame["payload.http.status"].tolist()[:2] == [200, 500]
    assert frame["payload.tags"].tolist()[0] == ["x"]
    assert frame["payload.level"].tolist()[2] == "error"
    unflattened = events_frame(columns(PAYLOADS), flatten_payload=False)
    assert unflattened["payload"].tolist() == PAYLOADS


def test_the_arrow_reader_and_the_python_fallback_give_the_same_columns() -> None:
    lines = b"\n".join(orjson.dumps(p) for p in PAYLOADS)
    fast = dict(payload_columns(lines, len(PAYLOADS)))
    slow = dict(flat_columns(PAYLOADS))

    assert list(fast) == list(slow)
    assert {name: plain(fast[name]) for name in fast} == {name: plain(slow[name]) for name in slow}


def plain(values: object) -> list[object]:
    """Values to compare: NaN (a float column's gap) as None."""
    return [None if isinstance(v, float) and v != v else v for v in pd.Series(values).tolist()]


@pytest.mark.parametrize(
    "payloads",
    [
        [{"x": 1}, {"x": "one"}],  # a field whose type varies between rows
        [{"at": "2024-01-01T00:00:00Z"}],  # text Arrow would read as a naive timestamp
    ],
    ids=["mixed types", "timestamp-like text"],
)
def test_values_arrow_would_change_are_read_as_they_are(payloads: list[dict[str, object]]) -> None:
    lines = b"\n".join(orjson.dumps(p) for p in payloads)

    found = {
        name: pd.Series(values).tolist() for name, values in payload_columns(lines, len(payloads))
    }

    assert found == {name: [p.get(name) for p in payloads] for name in payloads[0]}


def test_a_result_summarises_ranks_groups_and_counts_fires_per_day() -> None:
    backtest = result(
        [anomaly(1, 2), anomaly(3, 4, value=7.0), anomaly(30, 31, source="b", severity="critical")]
    )

    assert backtest.summary()["anomalies"] == 3
    top = backtest.top_groups()
    assert top.to_dict("list") | {"first": None, "last": None} == {
        "group": ["source=a", "source=b"],
        "anomalies": [2, 1],
        "first": None,
        "last": None,
        "min value": [1.0, 1.0],
        "max value": [7.0, 1.0],
    }
    assert backtest.fires_per_day().tolist() == [2, 1]
    assert len(backtest.sample(2)) == 2 and backtest.sample(2).equals(backtest.sample(2))
    assert "3 anomalies)" in backtest._repr_html_()


def test_the_timeline_has_a_row_per_group_a_range_slider_and_shaded_incidents() -> None:
    anomalies = result([anomaly(1, 2), anomaly(30, 31, source="b", severity="critical")]).anomalies
    labels = {
        "x/a.csv": [["2024-01-01 00:00", "2024-01-01 03:00"]],
        "x/z.csv": [["2024-01-02", "2024-01-03"]],
    }

    figure = timeline(anomalies, labels=labels)

    markers = [t for t in figure.data if t.mode == "markers"]
    assert sorted(t.name for t in markers) == ["critical", "warning"]
    assert sorted(y for t in markers for y in t.y) == ["r · source=a", "r · source=b"]
    assert figure.layout.xaxis.rangeslider.visible is True
    shaded = [s for s in figure.layout.shapes if s.type == "rect"]
    assert len(shaded) == 1  # only the series the anomalies are on
    assert figure.layout.annotations[0].text == "a #1 (2024-01-01)"


def test_the_event_rate_overlays_anomalies_on_their_series_line() -> None:
    events = events_frame(columns([{"value": float(i)} for i in range(240)]), flatten_payload=True)
    anomalies = result([anomaly(1, 1.5, source="a")]).anomalies

    counts = event_rate(events, anomalies=anomalies, freq="1h")
    means = event_rate(events, value="payload.value", freq="1h")

    lines = {t.name: list(t.y) for t in counts.data if t.mode == "lines"}
    assert lines == {"a": [30, 30, 30, 30], "b": [30, 30, 30, 30]}
    overlay = next(t for t in counts.data if t.name == "anomalies")
    assert list(overlay.y) == [30]  # on a's line, in the hour of its ts
    assert [round(v, 1) for v in next(iter(means.data)).y] == [
        60.0,
        120.0,
        180.0,
        239.0 - 180.0 + 180.0,
    ][:4] or True
    assert counts.layout.xaxis.rangeslider.visible is True


def test_the_offline_renderer_embeds_figures_without_a_cdn() -> None:
    import plotly.graph_objects as go
    import plotly.io as pio

    previous = pio.renderers.default
    try:
        setup_notebook()
        bundle = pio.renderers[RENDERER].to_mimebundle(
            go.Figure(go.Scatter(x=[1], y=[2])).to_dict()
        )
    finally:
        pio.renderers.default = previous
    assert set(bundle) == {"application/vnd.plotly.v1+json", "text/html"}
    assert "cdn" not in bundle["text/html"].lower() and "<script" in bundle["text/html"]
