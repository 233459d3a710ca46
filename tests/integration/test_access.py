"""API keys on real PostgreSQL and real API processes: the `keys` CLI, hashed storage, scopes,
revocation within the cache TTL, rate limits, the WebSocket, and the refused public bind."""

from __future__ import annotations

import base64
import subprocess
import sys
import time
import uuid
from typing import Any

import httpx
import psycopg
import pytest
from alembic import command
from websockets.exceptions import ConnectionClosed

from eventpulse.infrastructure import schema
from tests.conftest import Servers
from tests.integration.conftest import Product
from tests.integration.ws_support import receive, watching
from tests.support import wait_until, with_database

EVENT = {"event_type": "login", "source": "web-1", "payload": {"user": "ann"}}
TTL_S = 1.0


def eventpulse(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "eventpulse", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def create_key(env: dict[str, str], *args: str) -> str:
    done = eventpulse(env, "keys", "create", *args)
    assert done.returncode == 0, done.stderr
    key = done.stdout.strip()
    assert key.startswith("ep_") and "\n" not in key
    assert "shown only now" in done.stderr
    return key


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def key_id(key: str) -> str:
    return key.split("_")[1]


def test_keys_are_created_listed_and_revoked_and_the_table_never_holds_a_key(
    product: Product, db: psycopg.Connection[Any]
) -> None:
    env = product.env
    ingest = create_key(env, "--scope", "ingest", "--name", "billing producer", "--rate", "50")
    admin = create_key(env, "--scope", "admin")

    listed = eventpulse(env, "keys", "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{key_id(ingest)}\tactive\tingest\t50/s\t")
    assert lines[0].endswith("\tbilling producer")
    assert lines[1].startswith(f"{key_id(admin)}\tactive\tadmin\t-\t")

    revoked = eventpulse(env, "keys", "revoke", key_id(ingest))
    assert revoked.returncode == 0, revoked.stderr
    assert f"revoked API key {key_id(ingest)}" in revoked.stdout
    assert "\trevoked 20" in eventpulse(env, "keys", "list").stdout.splitlines()[0]
    again = eventpulse(env, "keys", "revoke", key_id(ingest))
    assert again.returncode == 1
    assert "no API key" in again.stderr
    bad = eventpulse(env, "keys", "create", "--scope", "write")
    assert bad.returncode == 2
    assert "unknown scope 'write'" in bad.stderr

    rows = db.execute("SELECT * FROM api_keys").fetchall()
    assert len(rows) == 2
    dump = repr(rows) + " ".join(
        bytes(cell).hex() + base64.b64encode(bytes(cell)).decode()
        for row in rows
        for cell in row
        if isinstance(cell, bytes | memoryview)
    )
    for key in (ingest, admin):
        secret = key.split("_", 2)[2]
        assert secret not in dump and secret.encode().hex() not in dump
        assert key not in dump


def test_scopes_apply_the_first_key_closes_the_api_and_a_revoked_key_is_refused_after_the_ttl(
    product: Product,
) -> None:
    env = product.env
    api = product.start_api(api_key_cache_s=TTL_S, ws_heartbeat_s=0.2)
    assert "WITHOUT authentication, to loopback clients only" in product.log_text()
    assert httpx.post(f"{api}/api/v1/events", json=EVENT).status_code == 202  # open: no key yet

    ingest = create_key(env, "--scope", "ingest")
    reader = create_key(env, "--scope", "read")
    wait_until(
        lambda: httpx.get(f"{api}/api/v1/rules").status_code == 401,
        what="the first key to close the API",
        timeout=TTL_S * 2 + 5,
    )

    anonymous = httpx.post(f"{api}/api/v1/events", json=EVENT)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == 'Bearer realm="eventpulse"'
    assert httpx.post(f"{api}/api/v1/events", json=EVENT, headers=bearer(ingest)).status_code == 202
    batch = httpx.post(f"{api}/api/v1/events/batch", json=[EVENT] * 3, headers=bearer(ingest))
    assert batch.status_code == 202
    assert httpx.get(f"{api}/api/v1/rules", headers=bearer(ingest)).status_code == 403
    assert httpx.get(f"{api}/api/v1/rules", headers=bearer(reader)).status_code == 200
    rule = {"name": "x", "type": "match", "severity": "info", "filter": {"all": []}}
    assert httpx.post(f"{api}/api/v1/rules", json=rule, headers=bearer(reader)).status_code == 403
    assert httpx.get(f"{api}/api/v1/health").status_code == 200

    with watching(api, token=reader) as ws:
        assert set(receive(ws)) == {"heartbeat"}
    with watching(api) as ws, pytest.raises(ConnectionClosed) as closed:
        receive(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401

    cli_env = {**env, "EVENTPULSE_API_URL": api}
    assert eventpulse(cli_env, "rules", "list").returncode == 1
    listed = eventpulse({**cli_env, "EVENTPULSE_API_KEY": reader}, "rules", "list")
    assert listed.returncode == 0, listed.stderr

    assert eventpulse(env, "keys", "revoke", key_id(ingest)).returncode == 0
    revoked_at = time.monotonic()
    wait_until(
        lambda: (
            httpx.post(f"{api}/api/v1/events", json=EVENT, headers=bearer(ingest)).status_code
            == 401
        ),
        what="the revoked key to be refused",
        timeout=TTL_S * 2 + 5,
        interval=0.1,
    )
    assert time.monotonic() - revoked_at < TTL_S * 2 + 5


def test_a_key_over_its_rate_gets_429_with_retry_after(product: Product) -> None:
    api = product.start_api()
    limited = create_key(product.env, "--scope", "ingest", "--rate", "2")
    other = create_key(product.env, "--scope", "ingest")
    with httpx.Client(base_url=f"{api}/api/v1", timeout=10) as client:
        statuses = [
            client.post("/events", json=EVENT, headers=bearer(limited)).status_code
            for _ in range(3)
        ]
        refused = client.post("/events/batch", json=[EVENT] * 5, headers=bearer(limited))
        unaffected = client.post("/events/batch", json=[EVENT] * 5, headers=bearer(other))

    assert statuses[:2] == [202, 202]  # a burst of one second's worth
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert "2 events/s" in refused.json()["detail"]
    assert unaffected.status_code == 202


def test_a_public_address_without_keys_is_refused_unless_explicitly_allowed(
    product: Product,
) -> None:
    refused = eventpulse(product.env, "api", "--host", "0.0.0.0", "--port", "9")
    assert refused.returncode == 2
    assert "refusing to listen on 0.0.0.0 with no API key" in refused.stderr


def test_the_api_keys_migration_goes_down_and_up(servers: Servers) -> None:
    name = f"ep_keys_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(servers.admin_dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    dsn = with_database(servers.admin_dsn, name)
    try:
        schema.upgrade(dsn)
        command.downgrade(schema.alembic_config(dsn), "0004")
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SELECT to_regclass('api_keys')").fetchone() == (None,)
        schema.upgrade(dsn)
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SELECT to_regclass('api_keys')").fetchone() == ("api_keys",)
    finally:
        with psycopg.connect(servers.admin_dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
