"""Invariant 7: a rule change returns once every live worker runs it, names the laggards when
some do not, and a worker that missed the announcement converges through the resync."""

from __future__ import annotations

import os
import signal
from typing import Any

import httpx
import orjson
import psycopg
import redis

from eventpulse.infrastructure.settings import Settings
from tests.integration.conftest import Product
from tests.support import wait_until

RULES = "/api/v1/rules"
RULE: dict[str, Any] = {
    "rule_id": "errors",
    "name": "Errors",
    "type": "match",
    "filter": {"field": "event_type", "op": "eq", "value": "error"},
}


def reports(settings: Settings) -> dict[str, dict[str, Any]]:
    client = redis.Redis.from_url(settings.redis_url or "")
    try:
        names = sorted(m.decode() for m in client.smembers(f"{settings.namespace}:workers"))
        values = client.mget([f"{settings.namespace}:workers:{n}" for n in names]) if names else []
        return {n: orjson.loads(v) for n, v in zip(names, values, strict=True) if v is not None}
    finally:
        client.close()


def stored_revision(db: psycopg.Connection[Any]) -> int:
    row = db.execute("SELECT revision FROM rule_set").fetchone()
    assert row is not None
    return int(row[0])


def start(product: Product, workers: list[str], **settings: Any) -> str:
    product.settings = product.settings.model_copy(update=settings)
    api = product.start_api()
    for name in workers:
        product.start_worker(name)
    wait_until(lambda: set(workers) <= set(reports(product.settings)), what=f"{workers} reporting")
    return api


def test_a_write_returns_once_every_worker_runs_the_new_version(
    product: Product, db: psycopg.Connection[Any]
) -> None:
    api = start(product, ["w1", "w2", "w3"])
    with httpx.Client(base_url=api, timeout=30) as client:
        created = client.post(RULES, json=RULE)
        assert created.status_code == 201, created.text
        after_create = reports(product.settings)
        disabled = client.patch(f"{RULES}/errors", json={"enabled": False})
        assert disabled.status_code == 200, disabled.text
        after_disable = reports(product.settings)

    assert {r["versions"].get("errors") for r in after_create.values()} == {1}
    assert {r["revision"] for r in after_create.values()} == {after_create["w1"]["revision"]}
    assert [r["versions"] for r in after_disable.values()] == [{}, {}, {}]
    assert {r["revision"] for r in after_disable.values()} == {stored_revision(db)}


def test_a_stalled_worker_is_named_after_the_timeout_and_converges_when_it_resumes(
    product: Product, db: psycopg.Connection[Any]
) -> None:
    api = start(product, ["w1", "w2"], reload_timeout_s=1.0, worker_ttl_s=60.0)
    stalled = product.processes[-1]  # w2
    os.killpg(stalled.pid, signal.SIGSTOP)  # the worker and its evaluator process
    try:
        with httpx.Client(base_url=api, timeout=30) as client:
            response = client.post(RULES, json=RULE)
    finally:
        os.killpg(stalled.pid, signal.SIGCONT)

    assert response.status_code == 504, response.text
    body = response.json()
    assert body["laggards"] == ["w2"]
    assert "w2" in body["detail"]
    assert body["rule"]["version"] == 1  # stored all the same
    wait_until(
        lambda: reports(product.settings)["w2"]["versions"] == {"errors": 1},
        what="the resumed worker to load the rule",
    )
    with httpx.Client(base_url=api, timeout=30) as client:  # repeating the write: confirmed
        again = client.put(f"{RULES}/errors", json=RULE)
    assert again.status_code == 200, again.text
    assert again.json()["version"] == 1


def test_a_worker_that_missed_the_announcement_converges_by_resync(
    product: Product, db: psycopg.Connection[Any]
) -> None:
    api = start(product, ["w1"], rules_resync_s=0.5)
    with httpx.Client(base_url=api, timeout=30) as client:
        assert client.post(RULES, json=RULE).status_code == 201

    # A change written straight to the store: nobody announces it.
    db.execute("UPDATE rules SET enabled = false WHERE rule_id = 'errors'")
    revision = stored_revision(db)

    wait_until(
        lambda: reports(product.settings)["w1"]["revision"] == revision,
        timeout=10,
        what="the worker to resync",
    )
    assert reports(product.settings)["w1"]["versions"] == {}


def test_a_worker_that_stops_cleanly_is_not_waited_for(
    product: Product, db: psycopg.Connection[Any]
) -> None:
    api = start(product, ["w1", "w2"], reload_timeout_s=2.0, worker_ttl_s=60.0)
    product.processes[-1].send_signal(signal.SIGTERM)
    assert product.processes[-1].wait(20) == 0
    with httpx.Client(base_url=api, timeout=30) as client:
        response = client.post(RULES, json=RULE)
    assert response.status_code == 201, response.text
    assert set(reports(product.settings)) == {"w1"}
