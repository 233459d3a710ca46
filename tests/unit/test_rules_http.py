"""The rules API over an in-memory repository: status codes, field paths, resources, pages."""

from __future__ import annotations

from typing import Any

import pytest

from eventpulse.application.rules import ManageRules
from tests.unit.api_client import TestClient, serve
from tests.unit.rule_fakes import FakeRuleRepository, RecordingAnnouncer

RULES = "/api/v1/rules"


def rule(**fields: Any) -> dict[str, Any]:
    return {"name": "Checkout errors", "type": "match"} | fields


def fields_of(response: Any) -> list[str]:
    return [e["field"] for e in response.json()["errors"]]


def create(client: TestClient, **fields: Any) -> dict[str, Any]:
    response = client.post(RULES, json=rule(**fields))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_post_answers_201_with_the_resource_and_its_location() -> None:
    with serve() as client:
        response = client.post(f"{RULES}?note=first", json=rule(rule_id="checkout"))

    assert response.status_code == 201
    assert response.headers["location"] == f"{RULES}/checkout"
    body = response.json()
    assert (body["rule_id"], body["version"], body["name"]) == ("checkout", 1, "Checkout errors")
    assert {"created_at", "updated_at", "severity", "lateness"} <= body.keys()


def test_a_bad_operator_is_422_at_its_path_in_the_condition_tree() -> None:
    bad = {"any": [{"field": "source", "op": "eq", "value": "a"}, {"field": "x", "op": "equals"}]}
    with serve() as client:
        response = client.post(RULES, json=rule(filter=bad))
        listed = client.get(RULES).json()

    assert response.status_code == 422
    assert response.json()["detail"] == "invalid rule"
    assert "filter.any[1].op" in fields_of(response)
    assert listed["items"] == []


def test_an_unknown_field_is_422_naming_it() -> None:
    with serve() as client:
        response = client.post(RULES, json=rule(windoww="5m"))

    assert response.status_code == 422
    assert fields_of(response) == ["windoww"]


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b"[1, 2", {"content-type": "application/json"}, 400),
        (b"name: x", {"content-type": "text/yaml"}, 415),
        (b"[]", {"content-type": "application/json"}, 422),
    ],
    ids=["malformed", "not-json", "not-an-object"],
)
def test_a_body_that_is_not_a_json_object_is_refused(
    body: bytes, headers: dict[str, str], status: int
) -> None:
    with serve() as client:
        response = client.post(RULES, content=body, headers=headers)

    assert response.status_code == status


def test_a_taken_id_is_409_and_the_live_rule_is_unchanged() -> None:
    with serve() as client:
        create(client, rule_id="checkout")
        response = client.post(RULES, json=rule(rule_id="checkout", severity="critical"))
        live = client.get(f"{RULES}/checkout").json()

    assert response.status_code == 409
    assert "checkout" in response.json()["detail"]
    assert (live["version"], live["severity"]) == (1, "warning")


def test_get_edit_put_stores_the_next_version() -> None:
    with serve() as client:
        created = create(client, rule_id="checkout")
        edited = client.get(f"{RULES}/checkout").json() | {"severity": "critical"}
        response = client.put(f"{RULES}/checkout?note=louder", json=edited)
        versions = client.get(f"{RULES}/checkout/versions").json()

    assert response.status_code == 200
    assert (response.json()["version"], response.json()["severity"]) == (2, "critical")
    assert response.json()["created_at"] == created["created_at"]
    assert [(v["version"], v["severity"], v["note"]) for v in versions["items"]] == [
        (1, "warning", None),
        (2, "critical", "louder"),
    ]
    assert versions["next_cursor"] is None


def test_put_of_an_unknown_rule_is_404_and_put_of_a_bad_document_is_422() -> None:
    with serve() as client:
        create(client, rule_id="checkout")
        missing = client.put(f"{RULES}/nothing", json=rule())
        bad = client.put(f"{RULES}/checkout", json=rule(severity="loud"))
        live = client.get(f"{RULES}/checkout").json()

    assert missing.status_code == 404
    assert bad.status_code == 422
    assert fields_of(bad) == ["severity"]
    assert live["version"] == 1


def test_patch_toggles_enabled_as_a_new_version() -> None:
    with serve() as client:
        create(client, rule_id="checkout")
        disabled = client.patch(f"{RULES}/checkout", json={"enabled": False})
        again = client.patch(f"{RULES}/checkout", json={"enabled": False})

    assert disabled.status_code == 200
    assert (disabled.json()["version"], disabled.json()["enabled"]) == (2, False)
    assert again.json()["version"] == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "enabled"),
        ({"enabled": "no"}, "enabled"),
        ({"enabled": 1}, "enabled"),
        ({"enabled": True, "severity": "info"}, "severity"),
    ],
    ids=["missing", "string", "number", "extra-field"],
)
def test_patch_takes_only_a_boolean_enabled_else_422_naming_the_field(
    body: dict[str, Any], field: str
) -> None:
    with serve() as client:
        create(client, rule_id="checkout")
        response = client.patch(f"{RULES}/checkout", json=body)
        live = client.get(f"{RULES}/checkout").json()

    assert response.status_code == 422
    assert fields_of(response) == [field]
    assert live["version"] == 1


def test_patch_of_an_unknown_rule_is_404() -> None:
    with serve() as client:
        response = client.patch(f"{RULES}/nothing", json={"enabled": True})

    assert response.status_code == 404


def test_delete_hides_the_rule_but_keeps_its_versions_readable() -> None:
    with serve() as client:
        create(client, rule_id="checkout")
        client.patch(f"{RULES}/checkout", json={"enabled": False})
        deleted = client.delete(f"{RULES}/checkout")
        after = [client.get(f"{RULES}/checkout"), client.delete(f"{RULES}/checkout")]
        listed = client.get(RULES).json()
        versions = client.get(f"{RULES}/checkout/versions")

    assert deleted.status_code == 204
    assert [r.status_code for r in after] == [404, 404]
    assert listed["items"] == []
    assert versions.status_code == 200
    assert [v["version"] for v in versions.json()["items"]] == [1, 2]


def test_versions_of_an_id_never_used_are_404() -> None:
    with serve() as client:
        response = client.get(f"{RULES}/nothing/versions")

    assert response.status_code == 404


def test_the_list_pages_by_rule_id_with_a_cursor() -> None:
    with serve() as client:
        for n in (4, 1, 3, 0, 2):
            create(client, rule_id=f"rule-{n}")
        first = client.get(RULES, params={"limit": 2}).json()
        second = client.get(RULES, params={"limit": 2, "cursor": first["next_cursor"]}).json()
        third = client.get(RULES, params={"limit": 2, "cursor": second["next_cursor"]}).json()

    pages = [[r["rule_id"] for r in page["items"]] for page in (first, second, third)]
    assert pages == [["rule-0", "rule-1"], ["rule-2", "rule-3"], ["rule-4"]]
    assert third["next_cursor"] is None


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 501}, {"limit": "many"}])
def test_a_bad_page_size_is_422_naming_limit(params: dict[str, Any]) -> None:
    with serve() as client:
        response = client.get(RULES, params=params)

    assert response.status_code == 422
    assert fields_of(response) == ["limit"]


def test_changes_are_announced_for_reloads() -> None:
    announcer = RecordingAnnouncer()
    with serve(rules=ManageRules(FakeRuleRepository(), announcer)) as client:
        create(client, rule_id="checkout")
        client.patch(f"{RULES}/checkout", json={"enabled": False})
        client.delete(f"{RULES}/checkout")

    assert announcer.announced == [("checkout", 1), ("checkout", 2), ("checkout", None)]


def test_a_change_the_workers_do_not_confirm_answers_504_with_the_laggards_and_the_rule() -> None:
    announcer = RecordingAnnouncer(laggards=["host-1234"])
    with serve(rules=ManageRules(FakeRuleRepository(), announcer)) as client:
        response = client.post(RULES, json={"rule_id": "checkout", "name": "c", "type": "match"})
        stored = client.get(f"{RULES}/checkout")

    assert response.status_code == 504
    body = response.json()
    assert body["laggards"] == ["host-1234"]
    assert "host-1234" in body["detail"]
    assert body["rule"]["rule_id"] == "checkout" and body["rule"]["version"] == 1
    assert stored.status_code == 200


def test_the_openapi_document_describes_the_rules_resource() -> None:
    with serve() as client:
        spec = client.get("/openapi.json").json()

    paths = spec["paths"]
    assert set(paths[RULES]) == {"get", "post"}
    assert set(paths[f"{RULES}/{{rule_id}}"]) == {"get", "put", "patch", "delete"}
    assert "get" in paths[f"{RULES}/{{rule_id}}/versions"]
    created = paths[RULES]["post"]["responses"]["201"]["content"]["application/json"]
    assert created["schema"]["$ref"].endswith("/RuleOut")
    assert {"rule_id", "version", "created_at"} <= set(
        spec["components"]["schemas"]["RuleOut"]["required"]
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"{RULES}/a%00b"),
        ("PUT", f"{RULES}/a%00b"),
        ("PATCH", f"{RULES}/a%00b"),
        ("DELETE", f"{RULES}/a%00b"),
        ("GET", f"{RULES}/a%00b/versions"),
    ],
    ids=["get", "put", "patch", "delete", "versions"],
)
def test_an_id_no_rule_can_have_is_404(method: str, path: str) -> None:
    with serve() as client:
        body = {"PUT": rule(), "PATCH": {"enabled": False}}.get(method)
        response = client.request(method, path, json=body)
    assert response.status_code == 404


@pytest.mark.parametrize(
    "cursor", ["²", "١٢", "x" * 19, "-1"], ids=["super", "arabic", "long", "neg"]
)
def test_a_versions_cursor_that_is_not_a_plain_number_is_422(cursor: str) -> None:
    with serve() as client:
        create(client, rule_id="checkout")
        response = client.get(f"{RULES}/checkout/versions", params={"cursor": cursor})
    assert response.status_code == 422
    assert fields_of(response) == ["cursor"]


def test_a_list_cursor_that_is_not_a_rule_id_is_422() -> None:
    with serve() as client:
        response = client.get(RULES, params={"cursor": "a\x00"})
    assert response.status_code == 422
    assert fields_of(response) == ["cursor"]


def test_a_nul_character_in_a_rule_document_is_422_at_its_path() -> None:
    with serve() as client:
        response = client.post(RULES, json=rule(name="a\x00b"))
    assert response.status_code == 422
    assert fields_of(response) == ["name"]
