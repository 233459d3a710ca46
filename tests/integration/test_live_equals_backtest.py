"""Invariants 5 and 6 through the whole product, property-based: random rules of every type
and random event sets, posted through the API in an order shuffled within the rules' lateness,
evaluated live by 1 or 3 workers (one of them SIGKILLed mid-stream when asked), store exactly
the anomalies — ids, windows, groups and values — that the backtest of the same rule versions
returns over the stored events.

One product (API + workers) serves all the examples of a test; each example gets its own rule
ids and its own two days of event time, and waits until every stored event is evaluated, so
examples cannot see each other's events (a rule version's live span starts after the previous
example's events and the backtest range holds only this example's).
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import uuid
from datetime import timedelta
from typing import Any

import httpx
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventpulse.domain.events import Event
from eventpulse.domain.rules import RuleSpec
from tests.integration.conftest import Product
from tests.integration.live_support import wait_stored_and_evaluated
from tests.support import wait_until
from tests.unit.engine.strategies import events, rule_specs
from tests.unit.engine.support import BASE
from tests.unit.engine.test_properties import _shuffle_within

LATENESS = "10m"
RULES = "/api/v1/rules"
EXAMPLES = settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_LEADER = """
SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid)
WHERE l.locktype = 'advisory' AND l.granted AND a.application_name LIKE 'eventpulse-evaluation %'
"""


class World:
    """The running product shared by the examples of one test."""

    def __init__(self, product: Product, db: psycopg.Connection[Any], workers: int) -> None:
        self.product = product
        self.db = db
        self.api = product.start_api()
        self.client = httpx.Client(base_url=self.api, timeout=60)
        self.workers = {f"w{n}": product.start_worker(f"w{n}") for n in range(workers)}
        self.examples = itertools.count()
        self.stored = 0
        self.spawned = itertools.count(workers)

    def wait_for_workers(self) -> None:
        names = set(self.workers)
        wait_until(
            lambda: names <= set(self._reported()), timeout=60, what=f"workers {names} reporting"
        )

    def _reported(self) -> list[str]:
        import redis

        client = redis.Redis.from_url(self.product.settings.redis_url or "")
        try:
            members = client.smembers(f"{self.product.settings.namespace}:workers")
            return [m.decode() for m in members]
        finally:
            client.close()

    def kill_the_evaluator(self) -> str:
        name = wait_until(self._leader, timeout=30, what="an evaluating worker")
        process = self.workers.pop(name)
        os.killpg(process.pid, signal.SIGKILL)  # the worker and its evaluator: no goodbye
        process.wait(10)
        replacement = f"w{next(self.spawned)}"
        self.workers[replacement] = self.product.start_worker(replacement)
        return name

    def _leader(self) -> str | None:
        row = self.db.execute(_LEADER).fetchone()
        return None if row is None else str(row[0]).split(" ", 1)[1]


def as_posted(event: Event, offset: timedelta) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": event.event_type,
        "source": event.source,
        "timestamp": (event.ts + offset).isoformat(),
        "payload": event.payload,
    }


def check_example(
    world: World, specs: list[RuleSpec], batch: list[Event], seed: int, kill: bool
) -> None:
    number = next(world.examples)
    offset = timedelta(days=2 * number)
    rng = random.Random(seed)
    rule_ids = [f"ex{number}-{i}" for i in range(len(specs))]
    for rule_id, spec in zip(rule_ids, specs, strict=True):
        response = world.client.post(RULES, json=spec.to_document() | {"rule_id": rule_id})
        assert response.status_code == 201, response.text

    ordered = sorted(batch, key=lambda event: event.ts)
    posted = [as_posted(e, offset) for e in _shuffle_within(ordered, timedelta(minutes=10), rng)]
    cuts = sorted(rng.sample(range(1, len(posted)), min(3, len(posted) - 1))) if posted else []
    chunks = [posted[a:b] for a, b in itertools.pairwise([0, *cuts, len(posted)])]
    for index, chunk in enumerate(chunks):
        if kill and index == len(chunks) // 2:
            world.kill_the_evaluator()
        if chunk:
            response = world.client.post("/api/v1/events/batch", json=chunk)
            assert response.status_code == 202, response.text
    world.stored += len(posted)
    wait_stored_and_evaluated(world.db, world.stored)

    since, until = BASE + offset, BASE + offset + timedelta(days=1)
    for rule_id in rule_ids:
        backtest = world.client.post(
            f"{RULES}/backtest",
            json={"rule_id": rule_id, "since": since.isoformat(), "until": until.isoformat()},
        )
        assert backtest.status_code == 200, backtest.text
        expected = sorted(_comparable(a) for a in backtest.json()["anomalies"])
        assert live_anomalies(world.db, rule_id) == expected, rule_id
    for rule_id in rule_ids:
        assert world.client.delete(f"{RULES}/{rule_id}").status_code == 204


def _comparable(anomaly: dict[str, Any]) -> tuple[Any, ...]:
    return (
        anomaly["anomaly_id"],
        anomaly["rule_version"],
        anomaly["severity"],
        repr(sorted(anomaly["group"].items())),
        anomaly["window_start"][:19],
        anomaly["window_end"][:19],
        anomaly["value"],
    )


def live_anomalies(db: psycopg.Connection[Any], rule_id: str) -> list[tuple[Any, ...]]:
    rows = db.execute(
        "SELECT anomaly_id, rule_version, severity, group_key, window_start, window_end, value"
        " FROM anomalies WHERE rule_id = %s",
        (rule_id,),
    ).fetchall()
    return sorted(
        (
            row[0],
            row[1],
            row[2],
            repr(sorted(row[3].items())),
            row[4].isoformat()[:19],
            row[5].isoformat()[:19],
            row[6],
        )
        for row in rows
    )


@pytest.mark.parametrize(("workers", "kill"), [(1, False), (3, False), (3, True)])
def test_live_anomalies_equal_the_backtest(
    product: Product, db: psycopg.Connection[Any], workers: int, kill: bool
) -> None:
    product.settings = product.settings.model_copy(
        update={"worker_ttl_s": 2.0, "worker_heartbeat_s": 0.5, "evaluation_idle_s": 0.05}
    )
    world = World(product, db, workers)
    world.wait_for_workers()

    @EXAMPLES
    @given(
        specs=st.lists(rule_specs(st.just(LATENESS)), min_size=1, max_size=3),
        batch=events(max_size=50, skew=False),
        seed=st.integers(0, 2**32),
    )
    def example(specs: list[RuleSpec], batch: list[Event], seed: int) -> None:
        check_example(world, specs, batch, seed, kill)

    try:
        example()
    finally:
        world.client.close()
