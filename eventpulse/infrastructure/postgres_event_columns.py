"""Stored events as columns, for notebooks: a time range read in bounded chunks, fast.

Each chunk is one query over at most `size` rows, taken in `events_ts_idx` order (ts, then
event_id) after the previous chunk's last row (keyset, so no row is read twice and none is
skipped). The rows are aggregated server-side into one value per column: the ids joined by
commas, event types and sources as JSON arrays, the times packed as big-endian int64 (the binary
form of timestamptz: µs since 2000-01-01) and the payloads as UTF-8 JSON lines (JSONB's text
form never holds a raw newline). The client splits and parses each column in C (`str.split`,
orjson, `array.array`, a columnar JSON reader) rather than building Python objects row by row,
which is what lets a notebook load several hundred thousand events per second.

The aggregates consume the chunk's rows in one pass, in the order the subquery yields them (an
aggregate without GROUP BY or its own ORDER BY does not reorder its input), so the columns stay
aligned and in (ts, event_id) order, and the last id and time are the chunk's last row, where
the next chunk starts; `max(ts)` is checked against that last time.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson
import psycopg
from psycopg import sql

from eventpulse.domain.errors import StoreUnavailable

DEFAULT_CHUNK_ROWS: Final = 50_000
# timestamptz's binary form counts from 2000-01-01; pandas and numpy count from 1970-01-01.
POSTGRES_EPOCH_US: Final = 946_684_800_000_000
POSTGRES_EPOCH: Final = datetime(2000, 1, 1, tzinfo=UTC)

_CHUNK: Final = """
SELECT count(*),
       timestamptz_send(max(ts)),
       string_agg(event_id::text, ','),
       json_agg(event_type)::text,
       json_agg(source)::text,
       string_agg(timestamptz_send(ts), ''::bytea),
       string_agg(timestamptz_send(received_at), ''::bytea),
       convert_to(string_agg(payload::text, E'\n'), 'UTF8')
FROM (
    SELECT event_id, event_type, source, ts, received_at, payload
    FROM events
    WHERE {where}
    ORDER BY ts, event_id
    LIMIT {limit}
) AS chunk
"""


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which events: `since <= ts < until`, and the event types / sources listed (None: any)."""

    since: datetime
    until: datetime
    event_types: Sequence[str] | None = None
    sources: Sequence[str] | None = None


@dataclass(frozen=True, slots=True)
class EventColumns:
    """One chunk of events, column by column, in (ts, event_id) order. Times are µs since
    PostgreSQL's epoch, 2000-01-01 UTC (add POSTGRES_EPOCH_US for the Unix epoch; done on the
    whole column at once, by numpy, it costs nothing)."""

    event_id: list[str]
    event_type: list[str]
    source: list[str]
    ts_pg_us: array[int]
    received_pg_us: array[int]
    payload_lines: bytes
    """The payloads as JSON, one object per line (UTF-8)."""

    def payloads(self) -> list[dict[str, Any]]:
        """The payloads as dicts."""
        documents: list[dict[str, Any]] = orjson.loads(
            b"[" + self.payload_lines.replace(b"\n", b",") + b"]"
        )
        return documents

    def __len__(self) -> int:
        return len(self.event_id)


class PostgresEventColumns:
    """Reads events as `EventColumns` chunks on a connection of its caller's.

    While the caller works on one chunk, the next is already being aggregated by the server
    and fetched by a helper thread (the client's parsing and the server's work overlap; the
    connection is used by one of them at a time). At most two chunks are held at once.
    """

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def chunks(self, wanted: EventFilter, size: int = DEFAULT_CHUNK_ROWS) -> Iterator[EventColumns]:
        """The matching events, at most `size` per chunk."""
        if size < 1:
            raise ValueError("size must be at least 1")
        with ThreadPoolExecutor(1, thread_name_prefix="event-columns") as prefetch:
            pending = prefetch.submit(self._fetch, wanted, None, size)
            try:
                while True:
                    row = pending.result()
                    count = row[0]
                    if count == 0:
                        return
                    if count == size:  # there may be more: start on them now
                        pending = prefetch.submit(self._fetch, wanted, _last_key(row), size)
                    yield _columns(row)
                    if count < size:
                        return
            finally:
                # The connection goes back to its owner only once the helper is done with it.
                wait([pending])

    def _fetch(
        self, wanted: EventFilter, after: tuple[datetime, str] | None, size: int
    ) -> tuple[Any, ...]:
        query, params = chunk_query(wanted, after, size)
        try:
            with self._conn.cursor(binary=True) as cur:
                row = cur.execute(query, params).fetchone()
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(str(exc).strip() or type(exc).__name__) from exc
        assert row is not None, "an aggregate answers one row"
        if row[0] and bytes(row[1]) != bytes(row[5][-8:]):
            raise RuntimeError("the events of a chunk came out of order")  # never: see above
        return tuple(row)


def _last_key(row: tuple[Any, ...]) -> tuple[datetime, str]:
    """(ts, event_id) of a chunk's last row, where the next chunk starts."""
    micros = int.from_bytes(bytes(row[5][-8:]), "big", signed=True)
    return POSTGRES_EPOCH + timedelta(microseconds=micros), row[2].rsplit(",", 1)[-1]


def chunk_query(
    wanted: EventFilter, after: tuple[datetime, str] | None, size: int
) -> tuple[sql.Composed, list[Any]]:
    """The SQL of one chunk and its parameters."""
    conditions = [sql.SQL("ts >= %s AND ts < %s")]
    params: list[Any] = [wanted.since, wanted.until]
    if wanted.event_types is not None:
        conditions.append(sql.SQL("event_type = ANY(%s)"))
        params.append(list(wanted.event_types))
    if wanted.sources is not None:
        conditions.append(sql.SQL("source = ANY(%s)"))
        params.append(list(wanted.sources))
    if after is not None:
        conditions.append(sql.SQL("(ts, event_id) > (%s, %s::uuid)"))
        params += list(after)
    query = sql.SQL(_CHUNK).format(where=sql.SQL(" AND ").join(conditions), limit=sql.Literal(size))
    return query, params


def _columns(row: tuple[Any, ...]) -> EventColumns:
    return EventColumns(
        event_id=row[2].split(","),
        event_type=orjson.loads(row[3]),
        source=orjson.loads(row[4]),
        ts_pg_us=_micros(row[5]),
        received_pg_us=_micros(row[6]),
        payload_lines=bytes(row[7]),
    )


def _micros(packed: bytes) -> array[int]:
    values = array("q", packed)
    if sys.byteorder == "little":
        values.byteswap()  # the binary form is big-endian
    return values
