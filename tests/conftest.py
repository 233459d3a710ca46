"""Real PostgreSQL and Redis for the test run.

`EVENTPULSE_TEST_DATABASE_URL` (a server URL whose user may create databases) and
`EVENTPULSE_TEST_REDIS_URL` point the tests at existing servers; unset, the run starts the
same embedded servers the product uses, so `make test` works on a machine with none installed.
Each test gets its own database (cloned from a migrated template) and its own Redis namespace.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import redis

from eventpulse.infrastructure import schema
from eventpulse.infrastructure.embedded import EmbeddedPostgres, EmbeddedRedis
from eventpulse.infrastructure.settings import Settings
from tests.support import with_database


@dataclass(frozen=True)
class Servers:
    admin_dsn: str
    redis_url: str
    template: str


def _drop(admin_dsn: str, name: str) -> None:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    with ExitStack() as stack:
        admin = os.environ.get("EVENTPULSE_TEST_DATABASE_URL")
        redis_url = os.environ.get("EVENTPULSE_TEST_REDIS_URL")
        home = tmp_path_factory.mktemp("servers")
        if admin is None:
            pg = EmbeddedPostgres(home / "postgres")
            admin = pg.start()
            stack.callback(pg.stop)
        if redis_url is None:
            embedded_redis = EmbeddedRedis(home / "redis")
            redis_url = embedded_redis.start()
            stack.callback(embedded_redis.stop)
        template = f"ep_template_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{template}"')
        stack.callback(_drop, admin, template)
        schema.upgrade(with_database(admin, template))
        yield Servers(admin, redis_url, template)


@pytest.fixture
def database_url(servers: Servers) -> Iterator[str]:
    name = f"ep_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(servers.admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{servers.template}"')
    yield with_database(servers.admin_dsn, name)
    _drop(servers.admin_dsn, name)


@pytest.fixture
def namespace(servers: Servers) -> Iterator[str]:
    ns = f"t{uuid.uuid4().hex[:10]}"
    yield ns
    client = redis.Redis.from_url(servers.redis_url)
    try:
        keys = list(client.scan_iter(match=f"{ns}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def redis_client(servers: Servers) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(servers.redis_url)
    yield client
    client.close()


@pytest.fixture
def settings(servers: Servers, database_url: str, namespace: str, tmp_path: Path) -> Settings:
    """Settings for one test: own database and namespace, quick claim/trim cycles."""
    return Settings(
        database_url=database_url,
        redis_url=servers.redis_url,
        namespace=namespace,
        home=tmp_path / "home",
        worker_claim_idle_ms=1000,
        worker_claim_every_s=0.5,
        worker_trim_every_s=0.5,
        worker_block_ms=200,
    )


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that gives a child process these settings."""
    values = settings.model_dump(exclude_none=True)
    return {f"EVENTPULSE_{key.upper()}": str(value) for key, value in values.items()}
