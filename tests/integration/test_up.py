"""`eventpulse up` with no URLs: embedded servers, API and workers; clean stop; state persists."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support import free_port, product_env, spawn, stop, wait_until

pytestmark = pytest.mark.fault


def _start_up(home: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = product_env({"EVENTPULSE_HOME": str(home)})
    process = spawn(["up", "--port", str(port), "--workers", "2"], env, log)

    def healthy() -> bool:
        assert process.poll() is None, log.read_text()
        try:
            return httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).is_success
        except httpx.TransportError:
            return False

    wait_until(healthy, timeout=60, what="eventpulse up to serve")
    return process


def _descendants(process: subprocess.Popen[bytes]) -> list[psutil.Process]:
    return psutil.Process(process.pid).children(recursive=True)


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_up_runs_everything_stops_every_child_and_keeps_state_across_restarts(
    tmp_path: Path, stop_signal: int
) -> None:
    home, port, log = tmp_path / "home", free_port(), tmp_path / "up.log"
    up = _start_up(home, port, log)
    api = f"http://127.0.0.1:{port}/api/v1"
    children = _descendants(up)
    assert len(children) >= 3  # api + 2 workers (+ the embedded servers)
    event = {"event_type": "boot", "source": "laptop", "payload": {"n": 1}}
    event_id = httpx.post(f"{api}/events", json=event).json()["event_id"]
    wait_until(
        lambda: httpx.get(f"{api}/events/{event_id}").status_code == 200,
        what="the event to be stored",
    )
    assert "docs" in log.read_text()
    metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text  # summed over the children
    assert "eventpulse_worker_events_persisted_total 1.0" in metrics

    assert stop(up, stop_signal, timeout=60) == 0
    _, alive = psutil.wait_procs(children, timeout=10)
    assert alive == [], f"still running after stop: {alive}"
    assert not (home / "postgres" / "postmaster.pid").exists()

    restarted = time.time()
    up = _start_up(home, port, log)
    try:
        assert httpx.get(f"{api}/events/{event_id}").json()["payload"] == {"n": 1}
        stale = [p for p in (home / "metrics").glob("*.db") if p.stat().st_mtime < restarted]
        assert stale == [], "up empties the metrics directory at start"
    finally:
        assert stop(up, signal.SIGTERM, timeout=60) == 0


def test_db_upgrade_is_idempotent(database_url: str, tmp_path: Path) -> None:
    env = product_env({"EVENTPULSE_DATABASE_URL": database_url})
    for _ in range(2):
        process = spawn(["db", "upgrade"], env, tmp_path / "upgrade.log")
        assert process.wait(60) == 0, (tmp_path / "upgrade.log").read_text()
