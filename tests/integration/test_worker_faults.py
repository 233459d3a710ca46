"""Crash and fault tests: real processes are killed, real servers stopped; nothing is lost.

Each test ends by checking the invariant "every accepted event is stored exactly once" (the
stored ids equal the accepted ids, as sets and in number) and that no entry is left pending.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from eventpulse.infrastructure.redis_stream import GROUP
from tests.integration.conftest import Product, make_events, post_batches, stored_ids
from tests.support import stop, wait_until

pytestmark = pytest.mark.fault

TOTAL = 40_000


def _pending_of(client: redis.Redis, key: str, consumer: str) -> int:
    try:
        return len(client.xpending_range(key, GROUP, "-", "+", 1000, consumername=consumer))
    except redis.ResponseError:  # the worker has not created the group yet
        return 0


def _assert_exactly_once(db: psycopg.Connection[Any], accepted: list[str]) -> None:
    wait_until(lambda: len(stored_ids(db)) >= len(accepted), timeout=120, what="all events")
    stored = stored_ids(db)
    assert len(stored) == len(accepted) == len(set(accepted))
    assert set(stored) == set(accepted)


def _ingest_in_background(
    api: str, events: list[dict[str, Any]]
) -> tuple[threading.Thread, list[str]]:
    accepted: list[str] = []
    thread = threading.Thread(target=lambda: accepted.extend(post_batches(api, events, 1000)))
    thread.start()
    return thread, accepted


def _kill_while_it_holds_pending(client: redis.Redis, key: str, consumer: str, process: Any) -> int:
    """SIGKILL the worker at an instant where it has read entries it has not acknowledged."""
    wait_until(
        lambda: _pending_of(client, key, consumer) > 0,
        interval=0.001,
        what=f"{consumer} to hold pending entries",
    )
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    return _pending_of(client, key, consumer)


@pytest.mark.parametrize("replacement", ["same-name", "new-name"])
def test_a_worker_killed_mid_ingest_loses_nothing_once_a_worker_runs_again(
    product: Product, db: psycopg.Connection[Any], redis_client: redis.Redis, replacement: str
) -> None:
    api = product.start_api()
    victim = product.start_worker("w1")
    thread, accepted = _ingest_in_background(api, make_events(TOTAL))
    left_pending = _kill_while_it_holds_pending(
        redis_client, product.settings.stream_key, "w1", victim
    )
    assert left_pending > 0
    stored_at_kill = len(stored_ids(db))
    thread.join()
    assert stored_at_kill < len(accepted) == TOTAL
    # Same name: the restarted worker re-reads its own pending entries at start-up.
    # New name: it claims the dead consumer's idle entries with XAUTOCLAIM.
    product.start_worker("w1" if replacement == "same-name" else "w2")
    _assert_exactly_once(db, accepted)
    wait_until(
        lambda: redis_client.xpending(product.settings.stream_key, GROUP)["pending"] == 0,
        what="no pending entries",
    )


def test_when_one_of_two_workers_dies_for_good_the_other_takes_over_its_entries(
    product: Product, db: psycopg.Connection[Any], redis_client: redis.Redis
) -> None:
    api = product.start_api()
    product.start_worker("w1")
    doomed = product.start_worker("w2")
    thread, accepted = _ingest_in_background(api, make_events(TOTAL))
    left_pending = _kill_while_it_holds_pending(
        redis_client, product.settings.stream_key, "w2", doomed
    )
    assert left_pending > 0
    thread.join()
    _assert_exactly_once(db, accepted)
    wait_until(
        lambda: _pending_of(redis_client, product.settings.stream_key, "w2") == 0,
        what="w2's entries to be claimed and acknowledged",
    )
    assert "claimed" in product.log_text()


def test_postgres_stopped_during_ingestion_delays_but_loses_nothing(
    own_postgres: Any, product: Product, redis_client: redis.Redis, tmp_path: Path
) -> None:
    server, dsn = own_postgres
    product.settings = product.settings.model_copy(update={"database_url": dsn})
    api = product.start_api()
    product.start_worker("w1")
    with psycopg.connect(dsn, autocommit=True) as db:
        first = post_batches(api, make_events(5_000, source="before"))
        wait_until(lambda: len(stored_ids(db)) == len(first), what="the first events")
    server.stop()
    during = post_batches(api, make_events(5_000, source="during"))  # the API never needs PG
    wait_until(
        lambda: "event store unavailable" in product.log_text(),
        what="the worker to notice the outage",
    )
    key = product.settings.stream_key
    assert redis_client.xpending(key, GROUP)["pending"] > 0, "nothing may be acked while PG is down"
    server.start()
    after = post_batches(api, make_events(1_000, source="after"))
    with psycopg.connect(dsn, autocommit=True) as db:
        _assert_exactly_once(db, first + during + after)
    wait_until(lambda: redis_client.xpending(key, GROUP)["pending"] == 0, what="no pending")
    stop(product.processes[-1])
