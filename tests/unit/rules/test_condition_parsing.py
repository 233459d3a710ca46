from __future__ import annotations

from typing import Any

import pytest

from eventpulse.domain.errors import FieldError, InvalidInput
from eventpulse.domain.rules.conditions import (
    MAX_DEPTH,
    AllOf,
    AnyOf,
    Comparison,
    Not,
    parse_condition,
)
from eventpulse.domain.rules.fields import FieldRef
from eventpulse.domain.rules.operators import Operator


def problems(document: Any, path: str = "filter") -> list[tuple[str, str]]:
    with pytest.raises(InvalidInput) as invalid:
        parse_condition(document, path)
    return [(error.field, error.message) for error in invalid.value.errors]


def leaf(op: str, value: Any, field: str = "payload.x") -> dict[str, Any]:
    return {"field": field, "op": op, "value": value}


def test_every_error_of_a_deep_tree_is_reported_at_its_path() -> None:
    document = {
        "all": [
            leaf("eq", "ok"),
            {
                "any": [
                    leaf("eq", 1),
                    leaf("gt", [1]),
                    leaf("equals", 1),
                    {"not": leaf("regex", "(a+)+$", field="payload..x")},
                ]
            },
            {"not": {"all": []}},
            "not a condition",
            {"field": "source", "op": "in"},
            {"field": "source", "op": "exists", "value": True, "note": "why"},
        ]
    }

    assert problems(document) == [
        ("filter.all[1].any[1].value", "expected a number or a string"),
        ("filter.all[1].any[2].op", "unknown operator 'equals'"),
        (
            "filter.all[1].any[3].not.field",
            "invalid field 'payload..x': empty key in the payload path",
        ),
        ("filter.all[1].any[3].not.value", "catastrophic backtracking risk: nested quantifier"),
        ("filter.all[2].not.all", "expected a non-empty list of conditions"),
        ("filter.all[3]", "expected an object"),
        ("filter.all[4].value", "field required"),
        ("filter.all[5].note", "unknown field"),
    ]


def test_the_error_carries_a_message_and_field_errors() -> None:
    with pytest.raises(InvalidInput) as invalid:
        parse_condition({"any": [leaf("eq", 1), leaf("equals", 1), leaf("eq", 2)]})

    assert str(invalid.value) == "invalid condition"
    assert invalid.value.errors == [FieldError("filter.any[1].op", "unknown operator 'equals'")]


@pytest.mark.parametrize(
    ("op", "value", "message"),
    [
        ("in", "a", "expected a list"),
        ("not_in", {"a": 1}, "expected a list"),
        ("gt", True, "expected a number or a string"),
        ("lte", None, "expected a number or a string"),
        ("gte", float("nan"), "expected a number or a string"),
        ("contains", [1], "expected a string, or a JSON scalar to look for in a list"),
        ("startswith", 5, "expected a string"),
        ("regex", 5, "expected a regular expression string"),
        ("regex", ".*a.*b", "catastrophic backtracking risk"),
        ("regex", "(", "invalid regular expression"),
        ("exists", "yes", "expected true or false"),
        ("exists", 1, "expected true or false"),
        ("eq", float("inf"), "expected a JSON value"),
        ("eq", ("a", "b"), "expected a JSON value"),
        ("in", [1, {2: "x"}], "expected a list of JSON values"),
    ],
    ids=lambda value: repr(value)[:30],
)
def test_a_value_that_does_not_suit_its_operator_is_refused(
    op: str, value: Any, message: str
) -> None:
    [(path, text)] = problems({"all": [leaf(op, value)]})

    assert path == "filter.all[0].value"
    assert text.startswith(message)


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"all": [], "any": []}, ("filter", "a group has exactly one key: 'all', 'any' or 'not'")),
        ({"all": leaf("eq", 1)}, ("filter.all", "expected a non-empty list of conditions")),
        ({"not": [leaf("eq", 1)]}, ("filter.not", "expected an object")),
        (
            {"any": [{}]},
            ("filter.any[0]", "expected a condition: 'all', 'any', 'not' or field, op and value"),
        ),
        (
            {"match": "x"},
            ("filter", "expected a condition: 'all', 'any', 'not' or field, op and value"),
        ),
        (["not", "an", "object"], ("filter", "expected an object")),
        ({"op": "eq", "value": 1}, ("filter.field", "field required")),
        ({"field": "payload.x", "op": 3, "value": 1}, ("filter.op", "unknown operator 3")),
    ],
    ids=lambda value: str(value)[:40],
)
def test_a_malformed_tree_is_refused_at_the_node_at_fault(
    document: Any, expected: tuple[str, str]
) -> None:
    assert expected in problems(document)


def test_a_group_with_two_keys_still_reports_the_errors_of_its_children() -> None:
    found = problems({"all": [leaf("equals", 1)], "not": leaf("gt", [])})

    assert ("filter.all[0].op", "unknown operator 'equals'") in found
    assert ("filter.not.value", "expected a number or a string") in found


def test_errors_are_reported_under_the_given_path() -> None:
    assert problems({"not": leaf("eq", 1, field="nope")}, path="where") == [
        (
            "where.not.field",
            "unknown field 'nope': expected 'event_type', 'source', 'payload' or 'payload.<path>'",
        )
    ]


def nested_nots(depth: int) -> dict[str, Any]:
    document: dict[str, Any] = leaf("eq", 1)
    for _ in range(depth):
        document = {"not": document}
    return document


def test_a_tree_may_nest_up_to_the_depth_limit() -> None:
    parse_condition(nested_nots(MAX_DEPTH - 1))


def test_a_tree_nested_deeper_than_the_limit_is_refused() -> None:
    [(path, message)] = problems(nested_nots(MAX_DEPTH))

    assert path == "filter" + ".not" * MAX_DEPTH
    assert message == f"conditions nest at most {MAX_DEPTH} levels deep"


def test_a_parsed_tree_is_made_of_typed_nodes() -> None:
    condition = parse_condition({"all": [{"not": leaf("eq", 1)}, {"any": [leaf("gt", 2)]}]})

    x = FieldRef.parse("payload.x")
    assert condition == AllOf(
        (Not(Comparison(x, Operator.EQ, 1)), AnyOf((Comparison(x, Operator.GT, 2),)))
    )


def test_comparisons_tell_a_boolean_value_from_a_number() -> None:
    x = FieldRef.parse("payload.x")

    assert Comparison(x, Operator.EQ, 1) == Comparison(x, Operator.EQ, 1.0)
    assert Comparison(x, Operator.EQ, 1) != Comparison(x, Operator.EQ, True)
    assert Comparison(x, Operator.IN, [0]) != Comparison(x, Operator.IN, [False])


DOCUMENTS = [
    leaf("eq", {"nested": [1, None, "x"]}),
    {"all": [leaf("in", [1, "a", None]), {"not": leaf("exists", False)}]},
    {"any": [leaf("regex", "^ERR"), {"all": [leaf("contains", 3), leaf("startswith", "a")]}]},
    {"not": {"not": leaf("lte", "m", field="source")}},
]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda value: str(value)[:50])
def test_a_condition_gives_back_the_document_it_was_parsed_from(document: Any) -> None:
    condition = parse_condition(document)

    assert condition.to_document() == document
    assert parse_condition(condition.to_document()) == condition
