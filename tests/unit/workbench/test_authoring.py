"""Writing rules in a notebook: checked as the API checks them, problems listed by path."""

from __future__ import annotations

from pathlib import Path

import pytest

from eventpulse.workbench import InvalidRule, Rule, rule, spike, threshold, where

RULES = Path(__file__).parents[3] / "data/rules"
MACHINE = "machine_temperature_system_failure"


def cold(**changes: object) -> Rule:
    base = threshold(
        "Machine too cold",
        agg="avg",
        field="payload.value",
        window="1h",
        op="lt",
        value=50,
        filter=where("source", "eq", MACHINE),
        group_by=["source"],
        cooldown="6h",
        lateness="10m",
        rule_id="machine-cold",
    )
    return base.with_fields(**changes)


def test_a_keyword_helper_writes_the_same_document_as_the_example_rule_file() -> None:
    from_file = rule(RULES / "machine_temperature_drop.yaml")
    written = cold(
        rule_id="machine-temperature-drop",
        name=from_file.name,
        severity="critical",
        description=from_file.document["description"],
        message=from_file.document["message"],
        tags=from_file.document["tags"],
    )

    assert from_file.valid and written.valid
    assert written.normalized() == from_file.normalized()


def test_problems_are_listed_by_path_in_text_html_and_the_refusal() -> None:
    bad = cold(window="an hour", op="below", filter={"all": [{"field": "source", "op": "equals"}]})

    paths = [e.field for e in bad.problems]
    assert not bad.valid
    assert {"window", "op", "filter.all[0].op"} <= set(paths)
    text, page = repr(bad), bad._repr_html_()
    assert all(f"{path}:" in text for path in paths)
    assert all(f"<code>{path}</code>:" in page for path in paths)
    with pytest.raises(InvalidRule) as refused:
        bad.checked()
    assert str(refused.value).startswith("invalid rule 'Machine too cold':")
    assert [e.field for e in refused.value.errors] == paths


def test_yaml_text_dicts_and_files_are_all_accepted_and_other_input_is_a_problem() -> None:
    yaml_text = "name: Errors\ntype: match\nfilter: {field: payload.level, op: eq, value: error}"

    assert rule(yaml_text).valid
    assert rule({"name": "Errors", "type": "match"}).valid
    assert rule(rule(yaml_text)).document == rule(yaml_text).document
    assert [e.message for e in rule("data/rules/x.yaml").problems] == [
        "expected a rule document (a mapping) (to read a file, pass a pathlib.Path)"
    ]
    assert rule("name: [unclosed").problems[0].message.startswith("not YAML or JSON")


def test_a_message_template_is_checked_as_the_api_checks_it() -> None:
    refused = cold(message="{% for x in group %}{{ x }}{% endfor %}")

    assert [e.field for e in refused.problems] == ["message"]


def test_with_fields_sets_and_removes_fields_and_checks_again() -> None:
    tuned = cold(value=55, window="3h", cooldown=None)

    assert tuned.document["value"] == 55 and tuned.document["window"] == "3h"
    assert "cooldown" not in tuned.document and tuned.valid
    assert not cold(rule_id="Not An Id").valid


def test_helpers_leave_out_what_is_not_given() -> None:
    burst = spike("Burst", window="5m", up=3.0)

    assert burst.valid
    assert burst.document == {
        "name": "Burst",
        "enabled": True,
        "severity": "warning",
        "type": "spike",
        "window": "5m",
        "up": 3.0,
    }
