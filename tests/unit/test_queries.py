"""The query use cases over fake readers: argument checks naming the field, cursors, pages."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import pytest

from eventpulse.application.queries import (
    decode_cursor,
    encode_cursor,
    find_anomaly,
    list_anomalies,
    list_events,
)
from eventpulse.domain.errors import InvalidInput, NotFound
from eventpulse.domain.rules import Severity
from tests.unit.fakes import T0, FakeReader, stored_event
from tests.unit.query_fakes import FakeAnomalyReader, stored_anomaly


def raw_cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def bad_fields(**arguments: Any) -> list[str]:
    with pytest.raises(InvalidInput) as raised:
        asyncio.run(list_events(FakeReader(), **arguments))
    return [error.field for error in raised.value.errors]


@pytest.mark.parametrize(
    "ts",
    [
        T0,
        datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
    ],
    ids=["recent", "before-epoch", "earliest", "latest"],
)
def test_a_cursor_decodes_to_the_position_it_encodes(ts: datetime) -> None:
    cursor = encode_cursor("a", ts, "id:with:colons")

    assert decode_cursor(cursor, "a") == (ts, "id:with:colons")
    assert cursor.isascii() and "=" not in cursor and "/" not in cursor and "+" not in cursor


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not base64!",
        "é",
        raw_cursor("e:12:abc"),  # another list's kind
        raw_cursor("a:twelve:abc"),
        raw_cursor("a:+12:abc"),
        raw_cursor("a:12:"),
        raw_cursor("a:12:a\x00b"),
        raw_cursor("a:999999999999999999999:abc"),
        raw_cursor("a:12"),
        "A" * 2000,
    ],
    ids=[
        "empty",
        "not-base64",
        "not-ascii",
        "other-kind",
        "not-a-number",
        "signed",
        "no-id",
        "nul-in-id",
        "out-of-range",
        "too-few-parts",
        "too-long",
    ],
)
def test_anything_but_a_cursor_of_this_list_is_refused(cursor: str) -> None:
    assert decode_cursor(cursor, "a") is None


def test_paging_returns_every_event_once_in_time_then_id_order() -> None:
    events = [stored_event(ts=T0 + timedelta(seconds=i // 3)) for i in range(10)]
    reader = FakeReader(*reversed(events))
    seen: list[UUID] = []
    cursor = None
    pages = 0
    while True:
        page = asyncio.run(list_events(reader, limit=3, cursor=cursor))
        seen += [e.event_id for e in page.items]
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor

    assert seen == [e.event_id for e in sorted(events, key=lambda e: (e.ts, e.event_id))]
    assert pages == 4


def test_a_page_that_ends_the_list_exactly_has_no_next_cursor() -> None:
    reader = FakeReader(*(stored_event() for _ in range(3)))

    page = asyncio.run(list_events(reader, limit=3))

    assert len(page.items) == 3
    assert page.next_cursor is None


@pytest.mark.parametrize(
    ("arguments", "fields"),
    [
        ({"limit": 0}, ["limit"]),
        ({"limit": 1001}, ["limit"]),
        ({"cursor": "nonsense"}, ["cursor"]),
        ({"cursor": raw_cursor("e:12:not-a-uuid")}, ["cursor"]),
        ({"since": datetime(2024, 5, 1)}, ["since"]),
        ({"until": datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=2)))}, ["until"]),
        ({"since": T0, "until": T0}, ["until"]),
        ({"event_type": ""}, ["event_type"]),
        ({"source": "we\x00b"}, ["source"]),
        ({"limit": -1, "cursor": "x", "event_type": "x" * 256}, ["limit", "event_type", "cursor"]),
    ],
    ids=[
        "limit-zero",
        "limit-too-big",
        "cursor-garbage",
        "cursor-without-event-id",
        "since-naive",
        "until-out-of-range-in-utc",
        "empty-range",
        "empty-type",
        "nul-in-source",
        "every-error-at-once",
    ],
)
def test_a_bad_argument_is_named(arguments: dict[str, Any], fields: list[str]) -> None:
    assert bad_fields(**arguments) == fields


def test_an_anomalies_cursor_is_refused_by_the_events_list() -> None:
    reader = FakeAnomalyReader(*(stored_anomaly(anomaly_id=f"{i:032x}") for i in range(2)))
    cursor = asyncio.run(list_anomalies(reader, limit=1)).next_cursor
    assert cursor is not None

    assert bad_fields(cursor=cursor) == ["cursor"]


def test_bounds_reach_the_reader_in_utc_with_one_row_more_than_the_page() -> None:
    reader = FakeAnomalyReader()
    since = datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))

    asyncio.run(list_anomalies(reader, severity=Severity.CRITICAL, since=since, limit=10))

    (query,) = reader.queries
    assert query.since == T0 and query.since.tzinfo is UTC
    assert (query.limit, query.severity, query.until) == (11, "critical", None)


def test_an_unknown_severity_from_an_untyped_caller_is_named() -> None:
    unknown: Any = "fatal"
    with pytest.raises(InvalidInput) as raised:
        asyncio.run(list_anomalies(FakeAnomalyReader(), severity=unknown))

    assert [e.field for e in raised.value.errors] == ["severity"]


def test_an_id_no_anomaly_can_have_is_not_found_without_a_lookup() -> None:
    reader = FakeAnomalyReader(stored_anomaly())

    with pytest.raises(NotFound):
        asyncio.run(find_anomaly(reader, "a\x00"))
    assert asyncio.run(find_anomaly(reader, "a" * 32)).anomaly.anomaly_id == "a" * 32
