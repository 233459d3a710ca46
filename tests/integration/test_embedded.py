"""Embedded servers: a second user reuses a running server and leaves it running."""

from __future__ import annotations

from pathlib import Path

import psycopg
import redis

from eventpulse.infrastructure.embedded import EmbeddedPostgres, EmbeddedRedis


def test_a_second_start_reuses_the_running_postgres_and_its_stop_leaves_it_running(
    tmp_path: Path,
) -> None:
    owner = EmbeddedPostgres(tmp_path / "pg")
    dsn = owner.start()
    try:
        guest = EmbeddedPostgres(tmp_path / "pg")
        assert guest.start() == dsn
        guest.stop()
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        owner.stop()
    assert not (tmp_path / "pg" / "postmaster.pid").exists()


def test_a_second_start_reuses_the_running_redis_and_its_stop_leaves_it_running(
    tmp_path: Path,
) -> None:
    owner = EmbeddedRedis(tmp_path / "redis")
    url = owner.start()
    try:
        guest = EmbeddedRedis(tmp_path / "redis")
        assert guest.start() == url
        guest.stop()
        client = redis.Redis.from_url(url)
        assert client.ping()
        client.close()
    finally:
        owner.stop()
    assert owner.process is None
