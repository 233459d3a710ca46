"""Schemathesis against the API's own OpenAPI document: no 500 on any generated input, and
every response is one the document describes (status code, content type, body schema).

One real API process (`eventpulse api`, fast ingest path included) and a worker, on real
PostgreSQL and Redis, with a database and Redis namespace of this module's own and no API key,
reached over loopback: the API is open. The document is the app's own
(`create_app(...).openapi()`, what the process serves at /openapi.json: a test checks that they
are the same). Schemathesis generates requests for every operation, valid and invalid ones
(positive and negative generation), in its examples, coverage and fuzzing phases; each
operation is a test of its own.

Checks: `not_a_server_error` (no 5xx; the worker runs so that /ready answers 200, not 503),
`status_code_conformance`, `content_type_conformance` and `response_schema_conformance`.

Bounded and reproducible: at most `MAX_EXAMPLES` fuzzed cases per operation, no deadline,
derandomized (every case derives from the test itself), no example database.

Excluded: `GET /api/v1/ws/anomalies`, which only documents the WebSocket and always answers
426: schemathesis cannot open a WebSocket, so generated GETs there would test nothing but that
fixed 426 (tests/integration/test_ws_anomalies.py covers the WebSocket).

Not `schemathesis.pytest.from_fixture`: its lazy schema fails on pytest 9.2 (it sets the item's
private `_nodeid`); the document is known at import time anyway.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from eventpulse.infrastructure.settings import Settings
from eventpulse.interfaces.http.app import create_app
from tests.conftest import Servers
from tests.integration.conftest import Product
from tests.support import wait_until, with_database

MAX_EXAMPLES = 30
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Only the document is read: no adapter is built without the lifespan running.
_DOCUMENT = create_app(
    Settings(database_url="postgresql:///unused", redis_url="redis:///")
).openapi()

schema = schemathesis.openapi.from_dict(_DOCUMENT).exclude(
    path="/api/v1/ws/anomalies", method="GET"
)


@pytest.fixture(scope="module")
def api_url(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One API process for every operation of the module (one per operation would dominate
    the run time), on a database and namespace of its own."""
    name = f"ep_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(servers.admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{servers.template}"')
    namespace = f"t{uuid.uuid4().hex[:10]}"
    home = tmp_path_factory.mktemp("openapi")
    (home / "logs").mkdir()
    product = Product(
        Settings(
            database_url=with_database(servers.admin_dsn, name),
            redis_url=servers.redis_url,
            namespace=namespace,
            home=home / "home",
        ),
        home / "logs",
    )
    try:
        url = product.start_api()
        product.start_worker("openapi-worker")  # so that /ready can answer 200
        wait_until(
            lambda: httpx.get(f"{url}/api/v1/ready", timeout=5).status_code == 200,
            timeout=30,
            what="the API to be ready",
        )
        yield url
    finally:
        product.stop_all()
        with psycopg.connect(servers.admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        with redis.Redis.from_url(servers.redis_url) as client:
            keys = list(client.scan_iter(match=f"{namespace}:*", count=1000))
            if keys:
                client.delete(*keys)


def test_the_process_serves_the_document_under_test(api_url: str) -> None:
    served = httpx.get(f"{api_url}/openapi.json", timeout=10).json()
    assert served == _DOCUMENT


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_response_conforms_to_the_openapi_document(case: Any, api_url: str) -> None:
    case.call_and_validate(base_url=api_url, checks=CHECKS, timeout=30)


def test_a_stored_number_beyond_64_bits_reads_back(api_url: str) -> None:
    """Found by the run above: ingestion parses 1e20 as a float, PostgreSQL's jsonb prints it
    as 100000000000000000000, and a reader that loads that as a Python int could not encode
    it again (orjson: "Integer exceeds 64-bit range"), so GET /events answered 500."""
    event = {"event_type": "big", "source": "fuzz", "payload": {"n": 1e20, "m": [-1e25]}}
    with httpx.Client(base_url=api_url, timeout=10) as client:
        accepted = client.post("/api/v1/events", json=event)
        assert accepted.status_code == 202, accepted.text
        event_id = accepted.json()["event_id"]
        wait_until(
            lambda: client.get(f"/api/v1/events/{event_id}").status_code != 404,
            timeout=30,
            what="the worker to store the event",
        )
        one = client.get(f"/api/v1/events/{event_id}")
        assert one.status_code == 200, one.text
        assert one.json()["payload"] == {"n": 1e20, "m": [-1e25]}
        listed = client.get("/api/v1/events", params={"event_type": "big"})
        assert listed.status_code == 200, listed.text
        assert [item["payload"] for item in listed.json()["items"]] == [{"n": 1e20, "m": [-1e25]}]
