"""GET /api/v1/events/{id}, liveness, readiness and the OpenAPI document, over fakes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest

from eventpulse.domain.errors import StoreUnavailable
from tests.unit.api_client import healthy, serve
from tests.unit.fakes import FakeReader, stored_event


async def refused() -> None:
    raise ConnectionRefusedError("connection refused on 6379")


def test_a_stored_event_is_returned_by_id() -> None:
    stored = stored_event(
        event_type="payment",
        source="billing",
        ts=datetime(2024, 5, 1, 10, 0, tzinfo=UTC),
        payload={"amount": 12.5, "currency": "EUR"},
        received_at=datetime(2024, 5, 1, 10, 0, 2, tzinfo=UTC),
    )
    with serve(reader=FakeReader(stored)) as client:
        response = client.get(f"/api/v1/events/{stored.event_id}")

    assert response.status_code == 200
    body = response.json()
    assert body["event_id"] == str(stored.event_id)
    assert (body["event_type"], body["source"]) == ("payment", "billing")
    assert body["payload"] == {"amount": 12.5, "currency": "EUR"}
    assert datetime.fromisoformat(body["timestamp"]) == stored.ts
    assert datetime.fromisoformat(body["received_at"]) == stored.received_at


def test_an_unknown_event_id_is_404_naming_the_id() -> None:
    missing = uuid4()
    with serve(reader=FakeReader(stored_event())) as client:
        response = client.get(f"/api/v1/events/{missing}")

    assert response.status_code == 404
    assert str(missing) in response.json()["detail"]


def test_an_event_id_that_is_not_a_uuid_is_422_naming_the_parameter() -> None:
    with serve() as client:
        response = client.get("/api/v1/events/12345")

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["event_id"]


def test_the_api_is_alive_without_asking_its_dependencies() -> None:
    with serve(probes={"redis": refused}) as client:
        response = client.get("/api/v1/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_the_api_is_ready_when_every_probe_succeeds() -> None:
    with serve(probes={"redis": healthy, "postgres": healthy}) as client:
        response = client.get("/api/v1/ready")

    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"redis": "ok", "postgres": "ok"}}


def test_the_api_is_not_ready_naming_the_probe_that_failed() -> None:
    with serve(probes={"redis": refused, "postgres": healthy}) as client:
        response = client.get("/api/v1/ready")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert body["checks"]["postgres"] == "ok"
    assert body["checks"]["redis"].startswith("failed: ")
    assert "connection refused on 6379" in body["checks"]["redis"]


@pytest.fixture(scope="module")
def openapi() -> Iterator[dict[str, Any]]:
    with serve() as client:
        response = client.get("/openapi.json")
    assert response.status_code == 200
    yield response.json()


def json_body_schema(openapi: dict[str, Any], path: str) -> dict[str, Any]:
    body = openapi["paths"][path]["post"]["requestBody"]
    assert body["required"] is True
    schema: dict[str, Any] = body["content"]["application/json"]["schema"]
    return schema


def test_the_openapi_document_describes_the_single_event_body(openapi: dict[str, Any]) -> None:
    schema = json_body_schema(openapi, "/api/v1/events")

    assert schema["type"] == "object"
    assert set(schema["required"]) == {"event_type", "source"}
    assert {"event_id", "event_type", "source", "timestamp", "payload"} <= set(schema["properties"])
    assert schema["properties"]["event_type"]["maxLength"] == 255
    assert schema["additionalProperties"] is False


def test_the_openapi_document_describes_the_batch_body_as_an_array_of_events(
    openapi: dict[str, Any],
) -> None:
    schema = json_body_schema(openapi, "/api/v1/events/batch")

    assert schema["type"] == "array"
    assert schema["items"] == json_body_schema(openapi, "/api/v1/events")


@pytest.mark.parametrize(
    ("path", "statuses"),
    [
        pytest.param("/api/v1/events", {"202", "400", "413", "415", "422", "429", "503"}, id="one"),
        pytest.param("/api/v1/events/batch", {"202", "400", "413", "422", "503"}, id="batch"),
    ],
)
def test_the_openapi_document_lists_the_answers_of_ingestion(
    openapi: dict[str, Any], path: str, statuses: set[str]
) -> None:
    assert statuses <= set(openapi["paths"][path]["post"]["responses"])


def test_every_schema_reference_in_the_openapi_document_resolves(
    openapi: dict[str, Any],
) -> None:
    schemas = openapi["components"]["schemas"]

    def refs(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref":
                    yield value
                else:
                    yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    found = list(refs(openapi))
    assert found
    for ref in found:
        assert ref.startswith("#/components/schemas/")
        assert ref.removeprefix("#/components/schemas/") in schemas


def test_reading_an_event_while_postgres_is_down_answers_503_with_retry_after() -> None:
    class DownReader:
        async def get(self, event_id: Any) -> None:
            raise StoreUnavailable("connection refused")

    with serve(reader=DownReader()) as client:  # type: ignore[arg-type]
        response = client.get(f"/api/v1/events/{uuid4()}")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
