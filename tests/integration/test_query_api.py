"""The query API (GET /events, /anomalies and /anomalies/{id}) of a real API process on real
PostgreSQL. Rows are inserted with SQL: the API never writes the database, and these tests are
about reading it."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.integration.conftest import Product

EVENTS = "/api/v1/events"
ANOMALIES = "/api/v1/anomalies"
T0 = datetime(2024, 3, 1, tzinfo=UTC)
_INSERT_EVENT = """
INSERT INTO events (event_id, event_type, source, ts, payload, received_at)
VALUES (%s, %s, %s, %s, %s, %s)
"""
_INSERT_ANOMALY = """
INSERT INTO anomalies (anomaly_id, rule_id, rule_version, severity, group_key, window_start,
                       window_end, ts, value, message, details)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
"""


@pytest.fixture
def api(product: Product) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=product.start_api(), timeout=30) as client:
        yield client


def insert_events(
    db: psycopg.Connection[Any], rows: list[tuple[str, str, datetime]]
) -> list[tuple[datetime, UUID]]:
    """Store events (event_type, source, ts); their keys (ts, event_id)."""
    keys = [(ts, uuid4()) for _, _, ts in rows]
    with db.cursor() as cur:
        cur.executemany(
            _INSERT_EVENT,
            [
                (event_id, event_type, source, ts, Jsonb({"n": i}), ts)
                for i, ((event_type, source, _), (ts, event_id)) in enumerate(
                    zip(rows, keys, strict=True)
                )
            ],
        )
    return keys


def insert_anomaly(db: psycopg.Connection[Any], anomaly_id: str, **fields: Any) -> None:
    values: dict[str, Any] = {
        "rule_id": "checkout",
        "rule_version": 2,
        "severity": "warning",
        "group": {"source": "web"},
        "ts": T0,
        "value": 7.0,
        "message": "errors in {source}",
        "details": {"count": 7},
    } | fields
    ts = values["ts"]
    db.execute(
        _INSERT_ANOMALY,
        (anomaly_id, values["rule_id"], values["rule_version"], values["severity"],
         Jsonb(values["group"]), ts - timedelta(minutes=5), ts, ts, values["value"],
         values["message"], Jsonb(values["details"])),
    )  # fmt: skip


def every_page(api: httpx.Client, path: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(10_000):
        query = params | ({"cursor": cursor} if cursor else {})
        response = api.get(path, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("the pages did not end")


def event_key(item: dict[str, Any]) -> tuple[datetime, UUID]:
    return datetime.fromisoformat(item["timestamp"]), UUID(item["event_id"])


def test_event_filters_select_type_source_and_the_half_open_range(
    api: httpx.Client, db: psycopg.Connection[Any]
) -> None:
    rows = [
        (event_type, source, T0 + timedelta(minutes=minute))
        for event_type in ("login", "logout")
        for source in ("web", "mobile")
        for minute in range(6)
    ]
    keys = dict(zip(insert_events(db, rows), rows, strict=True))
    since, until = T0 + timedelta(minutes=1), T0 + timedelta(minutes=4)

    def expected(event_type: str | None = None, source: str | None = None) -> list[str]:
        return [
            str(event_id)
            for (ts, event_id), (kind, origin, _) in sorted(keys.items())
            if event_type in (None, kind) and source in (None, origin) and since <= ts < until
        ]

    ranged = {"since": "2024-03-01T02:01:00+02:00", "until": until.isoformat()}
    for filters in ({}, {"event_type": "login"}, {"source": "mobile"},
                    {"event_type": "logout", "source": "web"}):  # fmt: skip
        items = every_page(api, EVENTS, limit=5, **ranged, **filters)
        assert [item["event_id"] for item in items] == expected(**filters), filters
    assert len(every_page(api, EVENTS)) == len(rows)
    assert every_page(api, EVENTS, event_type="unknown") == []


def test_listed_events_are_the_documents_get_by_id_returns(
    api: httpx.Client, db: psycopg.Connection[Any]
) -> None:
    insert_events(db, [("login", "web", T0 + timedelta(seconds=s)) for s in (3, 1, 2)])

    page = api.get(EVENTS, params={"limit": 2}).json()
    rest = api.get(EVENTS, params={"cursor": page["next_cursor"]}).json()

    items = page["items"] + rest["items"]
    assert [datetime.fromisoformat(i["timestamp"]).second for i in items] == [1, 2, 3]
    assert items == [api.get(f"{EVENTS}/{i['event_id']}").json() for i in items]
    assert rest["next_cursor"] is None


def test_paging_returns_each_existing_event_once_while_rows_are_inserted_into_the_range(
    api: httpx.Client, db: psycopg.Connection[Any], database_url: str
) -> None:
    # Two events per second (ties on ts are broken by event_id); the writer adds more on the
    # very same seconds, before and after the reader's position, until the reader is done.
    seconds = 300
    existing = insert_events(
        db, [("login", "web", T0 + timedelta(seconds=i // 2)) for i in range(2 * seconds)]
    )
    done = threading.Event()
    inserted: list[tuple[datetime, UUID]] = []

    def writer() -> None:
        rng = random.Random(7)
        with psycopg.connect(database_url, autocommit=True) as conn:
            while not done.is_set():
                second = [T0 + timedelta(seconds=rng.randrange(seconds)) for _ in range(5)]
                inserted.extend(insert_events(conn, [("login", "web", ts) for ts in second]))
                time.sleep(0.01)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        time.sleep(0.05)
        before = len(inserted)
        items = every_page(api, EVENTS, limit=10, event_type="login", until="2024-03-01T01:00Z")
        during = len(inserted) - before
    finally:
        done.set()
        thread.join()

    keys = [event_key(item) for item in items]
    assert during > 0, "the writer inserted nothing while the pages were read"
    assert keys == sorted(set(keys)), "pages must be in (ts, event_id) order, no repeats"
    assert set(existing) <= set(keys)
    assert set(keys) <= set(existing) | set(inserted)


def test_anomalies_are_filtered_paged_and_read_by_id(
    api: httpx.Client, db: psycopg.Connection[Any]
) -> None:
    for n in range(12):
        insert_anomaly(
            db,
            f"{n:032x}",
            rule_id=("checkout", "latency")[n % 2],
            severity=("info", "warning", "critical")[n % 3],
            ts=T0 + timedelta(minutes=n // 2),
        )
    by_id = {f"{n:032x}": n for n in range(12)}

    def ids(**params: Any) -> list[int]:
        return [by_id[a["anomaly_id"]] for a in every_page(api, ANOMALIES, limit=2, **params)]

    assert ids() == list(range(12))
    assert ids(rule_id="latency") == [1, 3, 5, 7, 9, 11]
    assert ids(severity="critical") == [2, 5, 8, 11]
    assert ids(rule_id="checkout", severity="info") == [0, 6]
    assert ids(since="2024-03-01T00:01:00Z", until="2024-03-01T00:03:00Z") == [2, 3, 4, 5]
    assert ids(rule_id="unknown") == []


def test_an_anomaly_reads_as_the_document_of_the_design(
    api: httpx.Client, db: psycopg.Connection[Any]
) -> None:
    insert_anomaly(db, "f" * 32, group={"host": "db-1", "region": "eu"}, value=None)
    insert_anomaly(db, "e" * 32, ts=T0 + timedelta(hours=1), message="")

    one = api.get(f"{ANOMALIES}/{'f' * 32}")
    listed = api.get(ANOMALIES).json()["items"]

    assert one.status_code == 200
    document = one.json()
    assert listed[0] == document
    assert listed[1]["message"] is None  # stored as '' (the column is NOT NULL), as the engine's
    stored_at = db.execute(
        "SELECT created_at FROM anomalies WHERE anomaly_id = %s", ("f" * 32,)
    ).fetchone()
    assert stored_at is not None
    assert document == {
        "anomaly_id": "f" * 32,
        "rule_id": "checkout",
        "rule_version": 2,
        "severity": "warning",
        "group": {"host": "db-1", "region": "eu"},
        "window_start": "2024-02-29T23:55:00+00:00",
        "window_end": "2024-03-01T00:00:00+00:00",
        "ts": "2024-03-01T00:00:00+00:00",
        "value": None,
        "message": "errors in {source}",
        "details": {"count": 7},
        "created_at": document["created_at"],
    }
    assert datetime.fromisoformat(document["created_at"]) == stored_at[0]


@pytest.mark.parametrize(
    "path",
    [f"{ANOMALIES}/{'0' * 32}", f"{ANOMALIES}/with%00nul", f"{EVENTS}/{uuid4()}"],
    ids=["anomaly", "impossible-anomaly-id", "event"],
)
def test_an_unknown_id_is_404(api: httpx.Client, path: str) -> None:
    assert api.get(path).status_code == 404


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        (EVENTS, {"cursor": "bm90IGEgY3Vyc29y"}, "cursor"),
        (EVENTS, {"source": "a\x00b"}, "source"),
        (ANOMALIES, {"rule_id": "a\x00b"}, "rule_id"),
        (ANOMALIES, {"since": "0001-01-01T00:00:00+01:00"}, "since"),
    ],
    ids=["foreign-cursor", "nul-in-source", "nul-in-rule-id", "since-before-year-1-in-utc"],
)
def test_a_bad_parameter_is_422_naming_it_not_a_database_error(
    api: httpx.Client, path: str, params: dict[str, str], field: str
) -> None:
    response = api.get(path, params=params)

    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]
