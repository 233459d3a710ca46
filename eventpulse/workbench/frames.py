"""pandas DataFrames of events and anomalies, built column by column.

Events: `event_id`, `event_type`, `source`, `ts`, `received_at` (UTC), then the payload: one
`payload` column of dicts, or (flattened) one column per payload field, named by its path as a
rule names it (`payload.value`, `payload.http.status`); lists stay whole. Numbers become
float64 (int64 when a field is always an integer), text `str`; a field no event has is absent.

Anomalies (a backtest's or stored ones; the API's anomaly document): `anomaly_id`, `rule_id`,
`rule_version`, `severity`, `ts`, `window_start`, `window_end`, `value`, `message`, `group`
(dict), one `group.<field>` column per group field (`group.source`), `details` (dict), and
`created_at` for stored anomalies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from operator import itemgetter
from typing import Any, Final

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.json as pa_json

from eventpulse.domain.engine import Anomaly
from eventpulse.infrastructure.postgres_event_columns import POSTGRES_EPOCH_US, EventColumns

EVENT_COLUMNS: Final = ("event_id", "event_type", "source", "ts", "received_at")
ANOMALY_COLUMNS: Final = (
    "anomaly_id",
    "rule_id",
    "rule_version",
    "severity",
    "ts",
    "window_start",
    "window_end",
    "value",
    "message",
    "group",
)


def events_frame(columns: EventColumns, *, flatten_payload: bool) -> pd.DataFrame:
    data: dict[str, Any] = {
        "event_id": columns.event_id,
        "event_type": columns.event_type,
        "source": columns.source,
        "ts": _utc(columns.ts_pg_us),
        "received_at": _utc(columns.received_pg_us),
    }
    if flatten_payload:
        payload = payload_columns(columns.payload_lines, len(columns))
        data |= {f"payload.{name}": values for name, values in payload}
    else:
        data["payload"] = columns.payloads()
    return pd.DataFrame(data, copy=False)


def payload_columns(lines: bytes, rows: int) -> list[tuple[str, Any]]:
    """The flattened columns of JSON lines: read by Arrow's columnar JSON reader (in C++,
    several times faster than parsing into dicts), or by `flat_columns` when Arrow would change
    a value: a field whose type varies between rows, or text Arrow would turn into timestamps.
    """
    try:
        table = pa_json.read_json(pa.BufferReader(lines))
    except pa.ArrowInvalid:
        table = None
    while table is not None and any(pa.types.is_struct(f.type) for f in table.schema):
        table = table.flatten()
    if (
        table is None
        or table.num_rows != rows
        or any(pa.types.is_temporal(f.type) for f in table.schema)
    ):
        documents = orjson.loads(b"[" + lines.replace(b"\n", b",") + b"]")
        return [(name, values) for name, values in flat_columns(documents)]
    found: list[tuple[str, Any]] = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
            found.append((name, column.to_pylist()))  # lists stay Python lists
        else:
            found.append((name, column.to_pandas()))
    return found


def empty_events(*, flatten_payload: bool) -> pd.DataFrame:
    frame = pd.DataFrame({name: pd.Series(dtype=object) for name in EVENT_COLUMNS})
    for name in ("ts", "received_at"):
        frame[name] = pd.Series(dtype="datetime64[us, UTC]")
    if not flatten_payload:
        frame["payload"] = pd.Series(dtype=object)
    return frame


def flat_columns(documents: Sequence[Any]) -> list[tuple[str, np.ndarray]]:
    """One column per field path of the documents (dicts), in first-seen order; a document
    without a field has None there; lists stay whole.

    Documents are grouped by their keys (JSONB stores an object's keys in a canonical order,
    so a key set is one tuple) and each group's fields are taken out one key at a time with
    `map(itemgetter(key), ...)`, in C: the cost per row is a few C calls, not a Python loop
    over its fields. Nested objects are
    flattened the same way, one level at a time, only in the (rare) fields that hold them.
    """
    size = len(documents)
    shapes: dict[tuple[str, ...], int] = {}
    codes = [shapes.setdefault(keys, len(shapes)) for keys in map(tuple, documents)]
    code_of = np.asarray(codes, dtype=np.int64)
    columns: dict[str, np.ndarray] = {}
    for keys, code in shapes.items():
        if len(shapes) == 1:
            members: Sequence[Any] = documents
            rows: Any = slice(None)
        else:
            rows = np.flatnonzero(code_of == code).tolist()
            members = [documents[rows[0]]] if len(rows) == 1 else itemgetter(*rows)(documents)
        for key in keys:
            values = np.fromiter(map(itemgetter(key), members), dtype=object, count=len(members))
            if len(shapes) == 1:
                columns[key] = values
                continue
            column = columns.get(key)
            if column is None:
                column = columns[key] = np.full(size, None, dtype=object)
            column[rows] = values
    flat: list[tuple[str, np.ndarray]] = []
    for key, column in columns.items():
        kinds = set(map(type, column))
        if dict not in kinds:
            flat.append((key, _typed(column, kinds)))
            continue
        nested = [value if type(value) is dict else {} for value in column]
        flat += [(f"{key}.{inner}", values) for inner, values in flat_columns(nested)]
        if kinds - {dict, type(None)}:  # scalars beside the objects keep the plain name
            rest = np.array([None if type(v) is dict else v for v in column], dtype=object)
            flat.append((key, _typed(rest, set(map(type, rest)))))
    return flat


def _typed(column: np.ndarray, kinds: set[type]) -> np.ndarray:
    """Numbers as float64 (None as NaN) or int64; anything else stays as objects (pandas
    makes text columns `str`)."""
    if kinds == {bool}:
        return column.astype(bool)
    if kinds == {int}:
        try:
            return column.astype(np.int64)
        except OverflowError:
            return column
    if kinds <= {int, float, type(None)} and float in kinds:
        return column.astype(np.float64)
    if kinds == {int, type(None)}:
        return column.astype(np.float64)
    return column


def anomalies_frame(
    anomalies: Iterable[Anomaly], created_at: Sequence[Any] | None = None
) -> pd.DataFrame:
    rows = list(anomalies)
    data: dict[str, Any] = {
        "anomaly_id": [a.anomaly_id for a in rows],
        "rule_id": [a.rule_id for a in rows],
        "rule_version": np.array([a.rule_version for a in rows], dtype=np.int64),
        "severity": [str(a.severity) for a in rows],
        "ts": _times([a.ts for a in rows]),
        "window_start": _times([a.window_start for a in rows]),
        "window_end": _times([a.window_end for a in rows]),
        "value": np.array([np.nan if a.value is None else a.value for a in rows], dtype=float),
        "message": [a.message for a in rows],
        "group": [dict(a.group) for a in rows],
    }
    data |= {f"group.{name}": values for name, values in _group_columns(rows)}
    data["details"] = [dict(a.details) for a in rows]
    if created_at is not None:
        data["created_at"] = _times(list(created_at))
    return pd.DataFrame(data)


def group_label(group: Mapping[str, Any]) -> str:
    """`source=machine-1, payload.host=a`, or `(all)` for an ungrouped rule."""
    return ", ".join(f"{k}={v}" for k, v in group.items()) or "(all)"


def _group_columns(rows: Sequence[Anomaly]) -> list[tuple[str, list[Any]]]:
    names = dict.fromkeys(name for a in rows for name in a.group)
    return [(name, [a.group.get(name) for a in rows]) for name in names]


def _utc(pg_micros: Any) -> pd.DatetimeIndex:
    micros = np.frombuffer(pg_micros, dtype=np.int64) + POSTGRES_EPOCH_US
    return pd.DatetimeIndex(micros.view("datetime64[us]")).tz_localize("UTC")


def _times(values: list[Any]) -> pd.DatetimeIndex:
    if not values:
        return pd.DatetimeIndex([], dtype="datetime64[us, UTC]")
    return pd.DatetimeIndex(pd.to_datetime(values, utc=True)).as_unit("us")
