"""A worker's evaluator child that dies (SIGKILL, as the OOM killer would) is started again by
its worker, and the rules go on running: an event posted afterwards becomes an anomaly, and the
worker itself never stopped persisting."""

from __future__ import annotations

import os
import signal
from typing import Any

import psutil
import psycopg
import pytest

from tests.integration.conftest import Product
from tests.integration.payments import MARCH_1, create_rule, post_failed_payment
from tests.support import wait_until

pytestmark = pytest.mark.integration


def evaluator_pids(worker: psutil.Process) -> set[int]:
    """The worker's live evaluator children (multiprocessing's resource tracker is not one; a
    killed child is a zombie until its worker reaps it)."""
    pids = set()
    for child in worker.children():
        try:
            if child.status() != psutil.STATUS_ZOMBIE and "resource_tracker" not in " ".join(
                child.cmdline()
            ):
                pids.add(child.pid)
        except (psutil.ZombieProcess, psutil.NoSuchProcess):
            continue
    return pids


def anomaly_count(db: psycopg.Connection[Any]) -> int:
    row = db.execute("SELECT count(*) FROM anomalies").fetchone()
    return int(row[0]) if row else 0


def test_a_killed_evaluator_is_started_again_and_rules_keep_running(
    product: Product, db: psycopg.Connection[Any]
) -> None:
    api = product.start_api()
    worker = psutil.Process(product.start_worker("w1").pid)
    create_rule(api)  # answered once the worker's evaluator confirmed the new rule set
    post_failed_payment(api, "shop-eu")
    wait_until(lambda: anomaly_count(db) == 1, timeout=60, what="the first anomaly")

    (first,) = evaluator_pids(worker)
    os.kill(first, signal.SIGKILL)
    restarted = wait_until(
        lambda: (pids := evaluator_pids(worker)) and first not in pids and pids,
        timeout=60,
        what="a new evaluator process",
    )
    assert len(restarted) == 1 and worker.is_running()

    post_failed_payment(api, "shop-us", MARCH_1.replace(minute=5))
    wait_until(lambda: anomaly_count(db) == 2, timeout=60, what="an anomaly after the restart")
    assert "the evaluator process exited (code -9)" in product.log_text()
