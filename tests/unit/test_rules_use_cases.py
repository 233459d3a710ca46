"""The rules use cases over an in-memory repository: versions, ids, deletes, pages, reloads."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from eventpulse.application.rule_ids import derived_rule_id, is_rule_id
from eventpulse.application.rules import ManageRules
from eventpulse.domain.errors import Conflict, InvalidInput, NotFound, ReloadNotConfirmed
from eventpulse.infrastructure.jinja_messages import JinjaMessageTemplates
from tests.unit.rule_fakes import FakeRuleRepository, RecordingAnnouncer

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def rule(**fields: Any) -> dict[str, Any]:
    return {"name": "Checkout errors", "type": "match"} | fields


def manage(*suffixes: str) -> tuple[ManageRules, FakeRuleRepository, RecordingAnnouncer]:
    repository, announcer = FakeRuleRepository(), RecordingAnnouncer()
    queue = list(suffixes) or ["a1b2c3"]
    use_cases = ManageRules(repository, announcer, suffix=lambda: queue.pop(0))
    return use_cases, repository, announcer


def problems(error: pytest.ExceptionInfo[InvalidInput]) -> list[str]:
    return [e.field for e in error.value.errors]


def test_a_created_rule_is_version_1_of_its_normalised_document_and_is_announced() -> None:
    rules, _, announcer = manage()

    created = run(rules.create(rule(rule_id="checkout", cooldown="60s"), note="first"))

    assert (created.rule_id, created.version) == ("checkout", 1)
    assert created.document["cooldown"] == "1m"
    assert created.document["enabled"] is True
    assert run(rules.get("checkout")) == created
    assert announcer.announced == [("checkout", 1)]
    [version] = run(rules.versions("checkout")).items
    assert (version.version, version.note, version.document) == (1, "first", created.document)


def test_a_rule_without_an_id_gets_its_name_slug_and_a_random_suffix() -> None:
    rules, _, _ = manage("9f8e7d")

    created = run(rules.create(rule(name="Checkout: 5xx errors!")))

    assert created.rule_id == "checkout-5xx-errors-9f8e7d"


def test_a_derived_id_that_clashes_is_drawn_again() -> None:
    rules, _, _ = manage("aaaaaa", "aaaaaa", "bbbbbb")
    first = run(rules.create(rule()))

    second = run(rules.create(rule()))

    assert (first.rule_id, second.rule_id) == ("checkout-errors-aaaaaa", "checkout-errors-bbbbbb")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Disk full", "disk-full-abc123"),
        ("   ***   ", "rule-abc123"),
        ("x" * 200, "x" * 57 + "-abc123"),
        ("Überlast -- CPU", "berlast-cpu-abc123"),
    ],
    ids=["words", "no-letters", "long", "non-ascii"],
)
def test_derived_ids_are_valid_rule_ids(name: str, expected: str) -> None:
    derived = derived_rule_id(name, "abc123")

    assert derived == expected
    assert is_rule_id(derived)


def test_creating_an_id_that_a_live_rule_has_is_a_conflict() -> None:
    rules, _, _ = manage()
    run(rules.create(rule(rule_id="checkout")))

    with pytest.raises(Conflict, match="checkout"):
        run(rules.create(rule(rule_id="checkout", severity="critical")))

    assert run(rules.get("checkout")).document["severity"] == "warning"


@pytest.mark.parametrize("bad_id", ["Checkout", "-x", "", "a" * 65, "a b", 7])
def test_a_malformed_rule_id_is_refused_naming_rule_id(bad_id: Any) -> None:
    rules, repository, _ = manage()

    with pytest.raises(InvalidInput) as error:
        run(rules.create(rule(rule_id=bad_id)))

    assert problems(error) == ["rule_id"]
    assert repository.rows == {}


def test_every_fault_of_a_document_is_reported_at_once_with_its_path() -> None:
    rules, repository, _ = manage()
    body = rule(rule_id="BAD", filter={"any": [{"field": "source", "op": "equals", "value": 1}]})

    with pytest.raises(InvalidInput) as error:
        run(rules.create(body | {"colour": "red"}))

    assert problems(error) == ["rule_id", "filter.any[0].op", "colour"]
    assert repository.rows == {}


def test_replacing_stores_the_next_version_and_keeps_the_old_one() -> None:
    rules, _, announcer = manage()
    run(rules.create(rule(rule_id="checkout")))

    replaced = run(rules.replace("checkout", rule(severity="critical"), note="louder"))

    assert replaced.version == 2
    versions = run(rules.versions("checkout")).items
    assert [(v.version, v.document["severity"], v.note) for v in versions] == [
        (1, "warning", None),
        (2, "critical", "louder"),
    ]
    assert announcer.announced == [("checkout", 1), ("checkout", 2)]


def test_a_resource_sent_back_with_its_own_fields_is_accepted() -> None:
    rules, _, _ = manage()
    live = run(rules.create(rule(rule_id="checkout")))
    edited = live.resource() | {"severity": "info", "note": "from a versions listing"}

    replaced = run(rules.replace("checkout", edited))

    assert (replaced.version, replaced.document["severity"]) == (2, "info")
    assert "rule_id" not in replaced.document and "created_at" not in replaced.document


def test_a_body_naming_another_rule_than_the_path_is_refused() -> None:
    rules, _, _ = manage()
    run(rules.create(rule(rule_id="checkout")))

    with pytest.raises(InvalidInput) as error:
        run(rules.replace("checkout", rule(rule_id="payments")))

    assert problems(error) == ["rule_id"]
    assert run(rules.get("checkout")).version == 1


def test_a_write_that_changes_nothing_stores_no_version_and_waits_again_for_the_workers() -> None:
    rules, _, announcer = manage()
    run(rules.create(rule(rule_id="checkout", cooldown="1m")))

    same = run(rules.replace("checkout", rule(cooldown="60s")))
    still_enabled = run(rules.set_enabled("checkout", True))

    assert (same.version, still_enabled.version) == (1, 1)
    # Repeating a write is how a client waits again after a reload timed out: it is announced
    # at the same revision, so no worker reloads anything.
    assert announcer.announced == [("checkout", 1)] * 3
    assert len(set(announcer.revisions)) == 1


def test_each_stored_change_is_announced_at_a_higher_revision() -> None:
    rules, _, announcer = manage()
    run(rules.create(rule(rule_id="checkout")))
    run(rules.set_enabled("checkout", False))
    run(rules.delete("checkout"))

    assert announcer.announced == [("checkout", 1), ("checkout", 2), ("checkout", None)]
    assert announcer.revisions == sorted(set(announcer.revisions))


def test_a_change_the_workers_do_not_confirm_is_stored_and_reported_with_the_laggards() -> None:
    repository, announcer = FakeRuleRepository(), RecordingAnnouncer(laggards=["w-2"])
    rules = ManageRules(repository, announcer)

    with pytest.raises(ReloadNotConfirmed) as error:
        run(rules.create(rule(rule_id="checkout")))

    assert error.value.laggards == ["w-2"]
    assert error.value.rule is not None and error.value.rule["version"] == 1
    assert run(rules.get("checkout")).version == 1


def test_disabling_and_enabling_each_store_a_version() -> None:
    rules, _, _ = manage()
    run(rules.create(rule(rule_id="checkout")))

    disabled = run(rules.set_enabled("checkout", False))
    enabled = run(rules.set_enabled("checkout", True))

    assert (disabled.version, disabled.document["enabled"]) == (2, False)
    assert (enabled.version, enabled.document["enabled"]) == (3, True)
    notes = [v.note for v in run(rules.versions("checkout")).items]
    assert notes == [None, "disabled", "enabled"]


def test_a_deleted_rule_is_gone_from_reads_but_its_versions_stay() -> None:
    rules, _, announcer = manage()
    run(rules.create(rule(rule_id="checkout")))
    run(rules.set_enabled("checkout", False))

    run(rules.delete("checkout"))

    with pytest.raises(NotFound):
        run(rules.get("checkout"))
    assert run(rules.list()).items == []
    assert [v.version for v in run(rules.versions("checkout")).items] == [1, 2]
    assert announcer.announced[-1] == ("checkout", None)
    for change in (
        rules.replace("checkout", rule()),
        rules.set_enabled("checkout", True),
        rules.delete("checkout"),
    ):
        with pytest.raises(NotFound):
            run(change)


def test_re_creating_a_deleted_id_continues_its_version_history() -> None:
    rules, _, _ = manage()
    run(rules.create(rule(rule_id="checkout")))
    run(rules.set_enabled("checkout", False))
    run(rules.delete("checkout"))

    revived = run(rules.create(rule(rule_id="checkout", severity="critical")))

    assert revived.version == 3
    assert [v.version for v in run(rules.versions("checkout")).items] == [1, 2, 3]


def test_versions_of_an_id_never_used_are_not_found() -> None:
    rules, _, _ = manage()

    with pytest.raises(NotFound):
        run(rules.versions("nothing"))


def test_pages_of_rules_cover_every_live_rule_once_in_id_order() -> None:
    rules, _, _ = manage()
    ids = [f"rule-{n:02d}" for n in range(11)]
    for rule_id in reversed(ids):
        run(rules.create(rule(rule_id=rule_id)))
    run(rules.delete("rule-05"))

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = run(rules.list(limit=3, cursor=cursor))
        seen += [r.rule_id for r in page.items]
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break

    assert seen == [i for i in ids if i != "rule-05"]
    assert pages == 4


def test_pages_of_versions_follow_their_cursor() -> None:
    rules, _, _ = manage()
    run(rules.create(rule(rule_id="checkout")))
    for enabled in (False, True, False, True):
        run(rules.set_enabled("checkout", enabled))

    first = run(rules.versions("checkout", limit=2))
    second = run(rules.versions("checkout", limit=2, cursor=first.next_cursor))
    third = run(rules.versions("checkout", limit=2, cursor=second.next_cursor))

    assert [[v.version for v in p.items] for p in (first, second, third)] == [[1, 2], [3, 4], [5]]
    assert third.next_cursor is None


@pytest.mark.parametrize("limit", [0, 501])
def test_a_page_size_out_of_range_is_refused_naming_limit(limit: int) -> None:
    rules, _, _ = manage()

    with pytest.raises(InvalidInput) as error:
        run(rules.list(limit=limit))

    assert problems(error) == ["limit"]


def test_a_message_template_outside_the_sandboxed_subset_is_refused_at_message() -> None:
    rules = ManageRules(
        FakeRuleRepository(), RecordingAnnouncer(), templates=JinjaMessageTemplates()
    )

    with pytest.raises(InvalidInput) as error:
        run(rules.create(rule(message="{% for i in range(10**9) %}x{% endfor %}")))
    created = run(rules.create(rule(rule_id="ok", message="{{ rule_name }}: {{ value }}")))

    assert problems(error) == ["message"]
    assert created.document["message"] == "{{ rule_name }}: {{ value }}"
