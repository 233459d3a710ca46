"""The rules API and CLI against a real API process on real PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.integration.conftest import Product
from tests.support import spawn

RULES = "/api/v1/rules"


def rule(**fields: Any) -> dict[str, Any]:
    return {"name": "Checkout errors", "type": "match"} | fields


@pytest.fixture
def api(product: Product) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=product.start_api(), timeout=30) as client:
        yield client


def stored_versions(db: psycopg.Connection[Any], rule_id: str) -> list[tuple[int, Any]]:
    rows = db.execute(
        "SELECT version, document FROM rule_versions WHERE rule_id = %s ORDER BY version",
        (rule_id,),
    ).fetchall()
    return [(row[0], row[1]) for row in rows]


def test_a_rule_lives_through_create_update_toggle_and_delete_with_immutable_versions(
    api: httpx.Client, db: psycopg.Connection[Any]
) -> None:
    created = api.post(f"{RULES}?note=first", json=rule(rule_id="checkout", cooldown="60s"))
    assert created.status_code == 201, created.text
    v1 = stored_versions(db, "checkout")

    edited = api.get(f"{RULES}/checkout").json() | {"severity": "critical"}
    updated = api.put(f"{RULES}/checkout", json=edited)
    disabled = api.patch(f"{RULES}/checkout", json={"enabled": False})
    live = api.get(f"{RULES}/checkout").json()
    deleted = api.delete(f"{RULES}/checkout")

    assert (created.json()["version"], created.json()["cooldown"]) == (1, "1m")
    assert (updated.json()["version"], updated.json()["severity"]) == (2, "critical")
    assert (disabled.json()["version"], disabled.json()["enabled"]) == (3, False)
    assert (live["version"], live["severity"], live["enabled"]) == (3, "critical", False)
    assert deleted.status_code == 204
    assert api.get(f"{RULES}/checkout").status_code == 404
    assert api.get(RULES).json() == {"items": [], "next_cursor": None}
    versions = api.get(f"{RULES}/checkout/versions").json()["items"]
    assert [(v["version"], v["note"]) for v in versions] == [
        (1, "first"),
        (2, None),
        (3, "disabled"),
    ]
    assert stored_versions(db, "checkout")[:1] == v1
    assert db.execute(
        "SELECT version, enabled, deleted_at IS NOT NULL FROM rules WHERE rule_id = 'checkout'"
    ).fetchone() == (3, False, True)


def test_re_creating_a_deleted_rule_continues_its_versions_and_a_live_id_is_409(
    api: httpx.Client,
) -> None:
    api.post(RULES, json=rule(rule_id="checkout"))
    clash = api.post(RULES, json=rule(rule_id="checkout"))
    api.delete(f"{RULES}/checkout")

    revived = api.post(RULES, json=rule(rule_id="checkout", severity="info"))

    assert clash.status_code == 409
    assert revived.status_code == 201
    assert (revived.json()["version"], revived.json()["severity"]) == (2, "info")
    versions = api.get(f"{RULES}/checkout/versions").json()["items"]
    assert [(v["version"], v["severity"]) for v in versions] == [(1, "warning"), (2, "info")]


def test_a_refused_document_names_its_path_and_stores_nothing(
    api: httpx.Client, db: psycopg.Connection[Any]
) -> None:
    bad = rule(rule_id="checkout", filter={"any": [{"field": "source", "op": "equals"}]})

    response = api.post(RULES, json=bad)

    assert response.status_code == 422
    assert "filter.any[0].op" in [e["field"] for e in response.json()["errors"]]
    assert db.execute("SELECT count(*) FROM rule_versions").fetchone() == (0,)


def test_concurrent_puts_get_distinct_consecutive_versions(
    api: httpx.Client, db: psycopg.Connection[Any]
) -> None:
    created = api.post(RULES, json=rule(rule_id="checkout"))
    assert created.status_code == 201, created.text
    writers = 12

    def put(n: int) -> int:
        body = rule(description=f"writer {n}")
        with httpx.Client(base_url=str(api.base_url), timeout=30) as own:
            response = own.put(f"{RULES}/checkout", json=body)
        assert response.status_code == 200, response.text
        version: int = response.json()["version"]
        return version

    with ThreadPoolExecutor(writers) as pool:
        versions = list(pool.map(put, range(writers)))

    assert sorted(versions) == list(range(2, writers + 2))
    stored = stored_versions(db, "checkout")
    assert [v for v, _ in stored] == list(range(1, writers + 2))
    descriptions = {document["description"] for _, document in stored[1:]}
    assert descriptions == {f"writer {n}" for n in range(writers)}
    assert api.get(f"{RULES}/checkout").json()["version"] == writers + 1


def test_paging_through_the_rules_sees_each_live_rule_exactly_once(api: httpx.Client) -> None:
    # Mixed separators: a database collation that ignores punctuation would order these
    # differently from code points; the cursor must follow the order it hands out.
    ids = sorted({f"r{n % 7}{'-_.'[n % 3]}{n:02d}" for n in range(23)})
    for rule_id in ids:
        assert api.post(RULES, json=rule(rule_id=rule_id)).status_code == 201
    api.delete(f"{RULES}/{ids[4]}")

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 5} | ({"cursor": cursor} if cursor else {})
        page = api.get(RULES, params=params).json()
        seen += [item["rule_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == [rule_id for rule_id in ids if rule_id != ids[4]]


def cli(product: Product, api: httpx.Client, tmp_path: Path, *args: str) -> tuple[int, str]:
    log = tmp_path / f"cli-{len(list(tmp_path.glob('cli-*.log')))}.log"
    env = {**product.env, "EVENTPULSE_API_URL": str(api.base_url)}
    process = spawn(["rules", *args], env, log)
    return process.wait(60), log.read_text()


def test_the_cli_applies_lists_enables_and_disables_rules(
    product: Product, api: httpx.Client, tmp_path: Path
) -> None:
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(
        "- rule_id: checkout\n  name: Checkout errors\n  type: match\n"
        "- rule_id: heartbeat\n  name: Heartbeat missing\n  type: absence\n  window: 5m\n"
    )
    first = cli(product, api, tmp_path, "apply", str(rules_file))
    rules_file.write_text(rules_file.read_text().replace("window: 5m", "window: 10m"))
    second = cli(product, api, tmp_path, "apply", str(rules_file))
    disabled = cli(product, api, tmp_path, "disable", "heartbeat")
    listed = cli(product, api, tmp_path, "list")
    enabled = cli(product, api, tmp_path, "enable", "heartbeat")

    assert first == (0, "checkout@1 created\nheartbeat@1 created\n")
    assert second == (0, "checkout@1 unchanged\nheartbeat@2 updated\n")
    assert disabled == (0, "heartbeat@3 disabled\n")
    assert listed[0] == 0
    assert listed[1].splitlines() == [
        "checkout@1\tenabled\tmatch\twarning\tCheckout errors",
        "heartbeat@3\tdisabled\tabsence\twarning\tHeartbeat missing",
    ]
    assert enabled == (0, "heartbeat@4 enabled\n")
    assert api.get(f"{RULES}/heartbeat").json()["window"] == "10m"


def test_the_cli_prints_the_field_errors_of_a_refused_rule_and_fails(
    product: Product, api: httpx.Client, tmp_path: Path
) -> None:
    rules_file = tmp_path / "rule.json"
    rules_file.write_text(json.dumps(rule(rule_id="checkout", severity="loud", window="5m")))

    code, output = cli(product, api, tmp_path, "apply", str(rules_file))
    missing = cli(product, api, tmp_path, "enable", "nothing")

    assert code == 1
    assert "HTTP 422: invalid rule" in output
    assert "  severity: expected one of 'info', 'warning', 'critical'" in output
    assert "  window: unknown field for type 'match'" in output
    assert api.get(f"{RULES}/checkout").status_code == 404
    assert missing[0] == 1
    assert "HTTP 404" in missing[1]
