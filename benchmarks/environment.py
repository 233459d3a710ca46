"""Where a benchmark run happens: servers, a fresh database and namespace, product processes.

`EVENTPULSE_DATABASE_URL` / `EVENTPULSE_REDIS_URL` name existing servers; unset, the product's
embedded servers are started in a temporary directory. Either way each run gets its own
database (created, migrated, dropped at the end) and its own Redis namespace (keys deleted at
the end). Product processes are started as `python -m eventpulse api|worker`, one each, with
the `EVENTPULSE_*` environment pointing at that database and namespace.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import redis

from eventpulse.infrastructure import schema
from eventpulse.infrastructure.embedded import EmbeddedPostgres, EmbeddedRedis

PORTS = range(8100, 8200)


@dataclass(frozen=True)
class Servers:
    admin_dsn: str
    redis_url: str
    origin: str  # "environment" or "embedded"


@dataclass(frozen=True)
class Target:
    """One run's private space on the servers."""

    database_url: str
    redis_url: str
    namespace: str
    workdir: Path

    @property
    def stream_key(self) -> str:
        return f"{self.namespace}:events"

    def env(self, **settings: object) -> dict[str, str]:
        """Environment for a product process: these servers, this namespace, extra settings."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTPULSE_")}
        env.update(
            EVENTPULSE_DATABASE_URL=self.database_url,
            EVENTPULSE_REDIS_URL=self.redis_url,
            EVENTPULSE_NAMESPACE=self.namespace,
            EVENTPULSE_HOME=str(self.workdir / "home"),
        )
        env.update({f"EVENTPULSE_{k.upper()}": str(v) for k, v in settings.items()})
        return env

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url)

    def connect(self, **kwargs: object) -> psycopg.Connection:
        return psycopg.connect(self.database_url, **kwargs)  # type: ignore[arg-type]


@contextmanager
def servers(workdir: Path) -> Iterator[Servers]:
    with ExitStack() as stack:
        dsn = os.environ.get("EVENTPULSE_DATABASE_URL")
        redis_url = os.environ.get("EVENTPULSE_REDIS_URL")
        origin = "environment"
        if dsn is None:
            pg = EmbeddedPostgres(workdir / "postgres")
            dsn = pg.start()
            stack.callback(pg.stop)
            origin = "embedded"
        if redis_url is None:
            embedded_redis = EmbeddedRedis(workdir / "redis")
            redis_url = embedded_redis.start()
            stack.callback(embedded_redis.stop)
            origin = "embedded" if origin == "embedded" else "mixed"
        yield Servers(dsn, redis_url, origin)


def with_database(dsn: str, name: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{name}"))


@contextmanager
def fresh_target(servers: Servers, workdir: Path) -> Iterator[Target]:
    tag = uuid.uuid4().hex[:10]
    name = f"ep_bench_{tag}"
    with psycopg.connect(servers.admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        database_url = with_database(servers.admin_dsn, name)
        schema.upgrade(database_url)
        yield Target(database_url, servers.redis_url, f"bench{tag}", workdir)
    finally:
        with psycopg.connect(servers.admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        client = redis.Redis.from_url(servers.redis_url)
        try:
            keys = list(client.scan_iter(match=f"bench{tag}:*", count=1000))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


def free_port() -> int:
    """A free port in 8100-8199 on 127.0.0.1."""
    for port in PORTS:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 8100-8199")


class Process:
    """A child process in its own session, its output in a log file; stopped by its own pid."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._out = log.open("ab")
        self.popen = subprocess.Popen(
            argv, env=env, stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout_s: float = 15.0) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._out.close()

    def tail(self, lines: int = 20) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def running(argv: list[str], env: dict[str, str], log: Path) -> Iterator[Process]:
    process = Process(argv, env, log)
    try:
        yield process
    finally:
        process.stop()


def product(args: list[str], env: dict[str, str], log: Path) -> AbstractContextManager[Process]:
    """`python -m eventpulse ARGS` as a context manager."""
    return running([sys.executable, "-m", "eventpulse", *args], env, log)


def wait_http(process: Process, url: str, timeout_s: float = 30.0) -> None:
    """Wait until `url` answers 200 (the process must stay alive meanwhile)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if not process.alive():
            raise RuntimeError(f"process exited early; log:\n{process.tail()}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer within {timeout_s}s; log:\n{process.tail()}")
        time.sleep(0.1)
