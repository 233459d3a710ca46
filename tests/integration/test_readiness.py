"""`GET /api/v1/ready` follows the real dependencies: 503 naming what is wrong while PostgreSQL
or Redis is down, no worker is alive or accepted events wait too long, 200 once it is fixed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from eventpulse.infrastructure.embedded import EmbeddedRedis
from tests.integration.conftest import Product
from tests.support import stop, wait_until

pytestmark = pytest.mark.integration

EVENT = {"event_type": "a", "source": "s", "payload": {}}


def readiness(api: str) -> tuple[int, dict[str, str]]:
    response = httpx.get(f"{api}/api/v1/ready", timeout=10)
    return response.status_code, response.json()["checks"]


def becomes(api: str, status: int, check: str, state: str, timeout: float = 30) -> None:
    """Wait until /ready answers `status` with `check` in `state` (ok, or a failure prefix)."""

    def reached() -> bool:
        code, checks = readiness(api)
        return code == status and checks[check].startswith(state)

    wait_until(reached, timeout=timeout, what=f"/ready {status} with {check} {state}")


@pytest.mark.fault
def test_ready_fails_while_postgres_or_redis_is_down_and_recovers_when_it_returns(
    own_postgres: tuple[Any, str], product: Product, tmp_path: Path
) -> None:
    server, dsn = own_postgres
    own_redis = EmbeddedRedis(tmp_path / "own-redis")
    url = own_redis.start()
    product.settings = product.settings.model_copy(update={"database_url": dsn, "redis_url": url})
    try:
        api = product.start_api()
        code, checks = readiness(api)
        assert (code, checks["workers"]) == (503, "failed: no live worker (no heartbeat report)")
        product.start_worker("w1")
        becomes(api, 200, "workers", "ok")

        server.stop()
        becomes(api, 503, "postgres", "failed: ")
        server.start()
        becomes(api, 200, "postgres", "ok")

        assert own_redis.process is not None
        own_redis.process.kill()
        own_redis.process.wait()
        becomes(api, 503, "redis", "failed: ")
        own_redis = EmbeddedRedis(tmp_path / "own-redis")
        own_redis.start()
        becomes(api, 200, "redis", "ok")  # the worker has reported again, too
    finally:
        product.stop_all()
        own_redis.stop()


def test_ready_fails_while_accepted_events_wait_longer_than_the_limit(product: Product) -> None:
    api = product.start_api(ready_max_ingest_lag_s=1, ready_requires_worker=False)
    assert readiness(api) == (
        200,
        {"redis": "ok", "postgres": "ok", "workers": "ok", "ingest_lag": "ok"},
    )
    assert httpx.post(f"{api}/api/v1/events", json=EVENT).status_code == 202

    becomes(api, 503, "ingest_lag", "failed: the oldest accepted event has waited")
    worker = product.start_worker("w1")
    becomes(api, 200, "ingest_lag", "ok")
    stop(worker)
