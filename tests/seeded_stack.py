"""A running product seeded with the sample data, for the workbench and notebook tests.

One API and one worker process on a database (cloned from the migrated template) and a Redis
namespace of their own; a rule can be published through the workbench before the sample goes
in (so the live worker evaluates the whole sample with it); then `eventpulse up --seed`'s own
seeding (interfaces/seed.py) applies the example rules and sends every NAB series through the
API, and the stack is handed over once every event is stored and evaluated.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import redis

from eventpulse.infrastructure.settings import Settings
from eventpulse.interfaces.seed import SeedReport, sample_events, seed
from tests.conftest import Servers, settings_env
from tests.integration.conftest import Product
from tests.integration.live_support import wait_stored_and_evaluated
from tests.support import product_env, wait_until, with_database

DATA = Path(__file__).parents[1] / "data"
SAMPLE_EVENTS = len(sample_events(DATA))


@dataclass
class SeededStack:
    settings: Settings
    api_url: str
    product: Product
    report: SeedReport

    @property
    def env(self) -> dict[str, str]:
        """The environment of a process (a notebook kernel) that should use this stack."""
        return product_env(settings_env(self.settings)) | {"EVENTPULSE_API_URL": self.api_url}


@contextmanager
def seeded_stack(
    servers: Servers,
    workdir: Path,
    *,
    before_seed: Callable[[Settings], None] | None = None,
) -> Iterator[SeededStack]:
    database = f"ep_seeded_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(servers.admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}" TEMPLATE "{servers.template}"')
    settings = Settings(
        database_url=with_database(servers.admin_dsn, database),
        redis_url=servers.redis_url,
        namespace=f"s{uuid.uuid4().hex[:10]}",
        home=workdir / "home",
        worker_block_ms=200,
        evaluation_idle_s=0.05,
    )
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    product = Product(settings, logs)
    try:
        api_url = product.start_api()
        product.start_worker("w1")
        wait_until(lambda: _reporting(settings), timeout=60, what="the worker to report")
        if before_seed is not None:
            before_seed(settings)
        report = seed(api_url, DATA, progress=lambda _: None)
        assert report.accepted == SAMPLE_EVENTS and report.rejected == 0
        with psycopg.connect(settings.database_url or "", autocommit=True) as db:
            wait_stored_and_evaluated(db, SAMPLE_EVENTS, timeout=240)
        yield SeededStack(settings, api_url, product, report)
    finally:
        product.stop_all()
        _forget(servers, database, settings.namespace)


def _reporting(settings: Settings) -> bool:
    client = redis.Redis.from_url(settings.redis_url or "")
    try:
        return bool(client.smembers(f"{settings.namespace}:workers"))
    finally:
        client.close()


def _forget(servers: Servers, database: str, namespace: str) -> None:
    with psycopg.connect(servers.admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    client = redis.Redis.from_url(servers.redis_url)
    try:
        keys = list(client.scan_iter(match=f"{namespace}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
