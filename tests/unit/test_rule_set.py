"""A worker's rule set: loaded when the stored revision moves, swapped whole between steps,
reported after each load; stored rules that no longer parse are left out and named."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from eventpulse.application.rule_set import LiveRules, StoredRuleSet

MATCH = {"name": "m", "type": "match"}


class Source:
    def __init__(self) -> None:
        self.stored = StoredRuleSet(1, ())
        self.loads = 0

    def revision(self) -> int:
        return self.stored.revision

    def load(self) -> StoredRuleSet:
        self.loads += 1
        return self.stored


class Reports:
    def __init__(self) -> None:
        self.reported: list[tuple[int, dict[str, int]]] = []

    def report(self, revision: int, versions: Mapping[str, int]) -> None:
        self.reported.append((revision, dict(versions)))


def test_a_moved_revision_is_loaded_swapped_and_reported_an_unmoved_one_is_not() -> None:
    source, reports = Source(), Reports()
    rules = LiveRules(source, reports)
    source.stored = StoredRuleSet(2, (("b", 3, MATCH), ("a", 1, MATCH)))

    assert rules.reload()
    assert not rules.reload()

    assert [r.rule_id for r in rules.current.rules] == ["a", "b"]
    assert reports.reported == [(2, {"a": 1, "b": 3})]
    assert source.loads == 1


def test_a_stored_rule_that_no_longer_parses_is_left_out_and_named(caplog: Any) -> None:
    source, reports = Source(), Reports()
    rules = LiveRules(source, reports)
    source.stored = StoredRuleSet(2, (("ok", 1, MATCH), ("old", 4, {"name": "x", "type": "gone"})))

    rules.reload()

    assert rules.current.versions() == {"ok": 1}
    assert rules.current.refused == ("old",)
    assert "rule old v4 no longer parses" in caplog.text


def test_a_swap_waits_for_the_step_that_pinned_the_set() -> None:
    source, reports = Source(), Reports()
    rules = LiveRules(source, reports)
    source.stored = StoredRuleSet(2, (("a", 1, MATCH),))
    swapped = threading.Event()

    with rules.pinned() as pinned:
        reloading = threading.Thread(target=lambda: (rules.reload(), swapped.set()))
        reloading.start()
        assert not swapped.wait(0.2)  # blocked while the step runs
        assert rules.current is pinned and pinned.revision == 0
    reloading.join(5)

    assert swapped.is_set()
    assert rules.current.versions() == {"a": 1}
