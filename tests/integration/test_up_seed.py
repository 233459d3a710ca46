"""`eventpulse up --seed --lab`: the sample data and example rules go in through the API (once,
however often it starts), and JupyterLab serves the notebooks with the `eventpulse` kernel."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis

from eventpulse.infrastructure.embedded import EmbeddedPostgres
from tests.seeded_stack import SAMPLE_EVENTS
from tests.support import free_port, product_env, spawn, stop, wait_until

ROOT = Path(__file__).parents[2]
TOKEN = "test-token"


def start_up(home: Path, port: int, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = product_env({"EVENTPULSE_HOME": str(home)}) | {"JUPYTER_TOKEN": TOKEN}
    process = spawn(["up", "--port", str(port), "--seed", *extra], env, log)
    return process


def seeded_times(log: Path) -> int:
    return log.read_text(errors="replace").count(f"seed: accepted {SAMPLE_EVENTS}, rejected 0")


def counts(dsn: str) -> tuple[int, list[tuple[str, int]]]:
    with psycopg.connect(dsn) as db:
        row = db.execute("SELECT count(*) FROM events").fetchone()
        rules = db.execute("SELECT rule_id, version FROM rules ORDER BY rule_id").fetchall()
    assert row is not None
    return int(row[0]), [(str(r[0]), int(r[1])) for r in rules]


def kernelspecs(lab_port: int) -> Any:
    try:
        answer = httpx.get(
            f"http://127.0.0.1:{lab_port}/api/kernelspecs", params={"token": TOKEN}, timeout=2
        )
    except httpx.TransportError:
        return None
    return answer.json() if answer.status_code == 200 else None


def test_up_seed_loads_the_sample_once_and_lab_serves_the_eventpulse_kernel(
    tmp_path: Path,
) -> None:
    home, port, lab_port, log = tmp_path / "home", free_port(), free_port(), tmp_path / "up.log"
    up = start_up(home, port, log, "--lab", "--lab-port", str(lab_port))
    try:
        wait_until(lambda: seeded_times(log) == 1, timeout=180, what="the first seeding")
        specs = wait_until(lambda: kernelspecs(lab_port), timeout=90, what="JupyterLab")
        dsn = EmbeddedPostgres(home / "postgres").start()  # the running one, left running
        wait_until(lambda: counts(dsn)[0] == SAMPLE_EVENTS, timeout=120, what="events stored")
        first = counts(dsn)
    finally:
        assert stop(up, signal.SIGTERM, timeout=60) == 0

    assert specs["default"] == "eventpulse" and "eventpulse" in specs["kernelspecs"]
    assert first[1] == [
        ("ambient-temperature-high", 1),
        ("ec2-request-latency-spike", 1),
        ("machine-temperature-drop", 1),
    ]

    up = start_up(home, port, log)
    try:
        wait_until(lambda: seeded_times(log) == 2, timeout=180, what="the second seeding")
        dsn = EmbeddedPostgres(home / "postgres").start()
        assert "unchanged" in log.read_text(errors="replace")
        wait_until(lambda: _drained(home), timeout=120, what="the second seeding to be read")
        assert counts(dsn) == first  # nothing new: same events, same rule versions
    finally:
        assert stop(up, signal.SIGTERM, timeout=60) == 0


def _drained(home: Path) -> bool:
    """Every entry of the ingest stream is delivered to the worker and acknowledged."""
    client = redis.Redis(unix_socket_path=str(home / "redis" / "redis.sock"))
    try:
        stream: Any = client.xinfo_stream("ep:events")
        groups: Any = client.xinfo_groups("ep:events")
    finally:
        client.close()
    last = stream["last-generated-id"]
    return all(g["pending"] == 0 and g["last-delivered-id"] == last for g in groups)
