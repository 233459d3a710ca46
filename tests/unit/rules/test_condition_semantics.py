"""What each operator means, edge cases included (see the `conditions` module docstring)."""

from __future__ import annotations

from typing import Any

import pytest

from eventpulse.domain.rules.conditions import MATCH_ALL, parse_condition
from tests.unit.fakes import stored_event


def holds(op: str, value: Any, field_value: Any) -> bool:
    """Whether `payload.x <op> value` holds for an event whose payload has `x = field_value`."""
    condition = parse_condition({"field": "payload.x", "op": op, "value": value})
    return condition.matches(stored_event(payload={"x": field_value}))


def holds_when_missing(op: str, value: Any) -> bool:
    condition = parse_condition({"field": "payload.x", "op": op, "value": value})
    return condition.matches(stored_event(payload={"other": 1}))


def case(op: str, value: Any, field_value: Any, expected: bool, name: str) -> Any:
    return pytest.param(op, value, field_value, expected, id=f"{op}: {name}")


@pytest.mark.parametrize(
    ("op", "value", "field_value", "expected"),
    [
        case("eq", "ada", "ada", True, "equal strings"),
        case("eq", "ada", "Ada", False, "strings are case-sensitive"),
        case("eq", 1, 1.0, True, "int 1 equals float 1.0"),
        case("eq", 1.0, 1, True, "float 1.0 equals int 1"),
        case("eq", 1, True, False, "a number never equals true"),
        case("eq", True, 1, False, "true never equals a number"),
        case("eq", False, 0, False, "false never equals 0"),
        case("eq", 0, False, False, "0 never equals false"),
        case("eq", True, True, True, "booleans equal booleans"),
        case("eq", None, None, True, "null equals null"),
        case("eq", None, 0, False, "null is not zero"),
        case("eq", "1", 1, False, "a string never equals a number"),
        case("eq", [1, 2], [1, 2], True, "lists compare by content"),
        case("eq", [1, 2], [2, 1], False, "lists compare in order"),
        case("eq", [1, True], [1, 1], False, "booleans inside lists stay booleans"),
        case("eq", {"a": [1.0]}, {"a": [1]}, True, "objects compare key by key"),
        case("eq", {"a": 1}, {"a": 1, "b": 2}, False, "objects need the same keys"),
        case("ne", "ada", "bob", True, "different strings"),
        case("ne", "ada", "ada", False, "equal strings"),
        case("ne", 5, "5", True, "a value of another type is not equal"),
        case("ne", True, 1, True, "true is not 1"),
        case("ne", 1, 1.0, False, "1 and 1.0 are equal"),
        case("gt", 3, 5, True, "5 > 3"),
        case("gt", 3, 3, False, "3 > 3 is false"),
        case("gte", 3, 3.0, True, "3.0 >= 3"),
        case("lt", 3, 2.5, True, "2.5 < 3"),
        case("lte", 3, 4, False, "4 <= 3 is false"),
        case("gt", "b", "c", True, "strings order by code point"),
        case("lt", "b", "B", True, "uppercase sorts before lowercase"),
        case("gt", 9, "10", False, "a string is never compared with a number"),
        case("lt", "9", 10, False, "a number is never compared with a string"),
        case("gte", 0, True, False, "booleans are not numbers"),
        case("lt", 10, None, False, "null is not ordered"),
        case("gt", 0, [1], False, "lists are not ordered"),
        case("in", ["a", "b"], "a", True, "a listed string"),
        case("in", ["a", "b"], "c", False, "an unlisted string"),
        case("in", [1, 2], 1.0, True, "numbers match by value"),
        case("in", [1, 2], True, False, "true is not 1"),
        case("in", [True], 1, False, "1 is not true"),
        case("in", [False], False, True, "a listed boolean"),
        case("in", [None, "a"], None, True, "a listed null"),
        case("in", [[1, 2], {"k": 1}], [1, 2], True, "a listed list"),
        case("in", [[1, 2], {"k": 1}], {"k": 1.0}, True, "a listed object"),
        case("in", [], "a", False, "an empty list holds nothing"),
        case("not_in", ["a", "b"], "c", True, "an unlisted string"),
        case("not_in", ["a", "b"], "a", False, "a listed string"),
        case("not_in", [1], True, True, "true is not 1"),
        case("contains", "refused", "connection refused", True, "a substring"),
        case("contains", "Refused", "connection refused", False, "substrings are case-sensitive"),
        case("contains", "admin", ["admin", "dev"], True, "a list item"),
        case("contains", "adm", ["admin", "dev"], False, "not a part of a list item"),
        case("contains", 2.0, [1, 2], True, "a number in a list, by value"),
        case("contains", True, [1, 2], False, "true is not 1 in a list"),
        case("contains", True, [False, True], True, "a boolean in a list"),
        case("contains", None, [None], True, "null in a list"),
        case("contains", 5, "15", False, "a number is not looked for in a string"),
        case("contains", "a", {"a": 1}, False, "objects are not searched"),
        case("contains", "1", 1, False, "numbers are not searched"),
        case("startswith", "conn", "connection refused", True, "a prefix"),
        case("startswith", "refused", "connection refused", False, "not a prefix"),
        case("startswith", "a", ["abc"], False, "only strings have prefixes"),
        case("regex", r"time(out|d out)", "request timeout after 5s", True, "found anywhere"),
        case("regex", r"^timeout", "request timeout", False, "anchored at the start"),
        case("regex", r"^timeout$", "timeout", True, "anchored at both ends"),
        case("regex", r"5\d\d", 503, False, "numbers are not matched"),
        case("regex", r"a", ["a"], False, "lists are not matched"),
        case("exists", True, "anything", True, "a present value exists"),
        case("exists", True, None, True, "a null value exists"),
        case("exists", False, None, False, "a null value is not missing"),
    ],
)
def test_an_operator_compares_the_field_value_as_documented(
    op: str, value: Any, field_value: Any, expected: bool
) -> None:
    assert holds(op, value, field_value) is expected


@pytest.mark.parametrize(
    ("op", "value"),
    [
        ("eq", None),
        ("ne", "a"),
        ("gt", 0),
        ("gte", ""),
        ("lt", 0),
        ("lte", "z"),
        ("in", [None]),
        ("not_in", ["a"]),
        ("contains", ""),
        ("startswith", ""),
        ("regex", ".?"),
        ("exists", True),
    ],
    ids=lambda value: repr(value),
)
def test_every_operator_is_false_on_a_missing_field(op: str, value: Any) -> None:
    assert holds_when_missing(op, value) is False


def test_only_exists_false_holds_on_a_missing_field() -> None:
    assert holds_when_missing("exists", False) is True


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"field": "event_type", "op": "eq", "value": "login"}, True),
        ({"field": "source", "op": "in", "value": ["api", "web"]}, True),
        ({"field": "source", "op": "exists", "value": False}, False),
        ({"field": "payload", "op": "eq", "value": {"user": "ada", "tries": 3}}, True),
        ({"field": "payload", "op": "exists", "value": True}, True),
    ],
    ids=lambda value: str(value)[:50],
)
def test_event_type_source_and_the_whole_payload_can_be_compared(
    condition: dict[str, Any], expected: bool
) -> None:
    event = stored_event(event_type="login", source="web", payload={"user": "ada", "tries": 3})

    assert parse_condition(condition).matches(event) is expected


LOGIN = {"field": "event_type", "op": "eq", "value": "login"}
FROM_API = {"field": "source", "op": "eq", "value": "api"}
MANY_TRIES = {"field": "payload.tries", "op": "gte", "value": 3}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        pytest.param({"all": [LOGIN, MANY_TRIES]}, True, id="all: every child holds"),
        pytest.param({"all": [LOGIN, FROM_API]}, False, id="all: one child fails"),
        pytest.param({"any": [FROM_API, MANY_TRIES]}, True, id="any: one child holds"),
        pytest.param({"any": [FROM_API, {"not": LOGIN}]}, False, id="any: no child holds"),
        pytest.param({"not": FROM_API}, True, id="not: inverts a false child"),
        pytest.param({"not": LOGIN}, False, id="not: inverts a true child"),
        pytest.param(
            {"not": {"field": "payload.gone", "op": "eq", "value": 1}},
            True,
            id="not: a missing field's false comparison becomes true",
        ),
        pytest.param(
            {"all": [LOGIN, {"any": [FROM_API, {"not": {"not": MANY_TRIES}}]}]},
            True,
            id="nested groups",
        ),
    ],
)
def test_groups_combine_their_children(condition: dict[str, Any], expected: bool) -> None:
    event = stored_event(event_type="login", source="web", payload={"tries": 3})

    assert parse_condition(condition).matches(event) is expected


@pytest.mark.parametrize("document", [None, {}], ids=repr)
def test_an_empty_or_absent_filter_matches_every_event(document: Any) -> None:
    condition = parse_condition(document)

    assert condition is MATCH_ALL
    assert condition.matches(stored_event(payload={}))


def test_a_condition_keeps_its_own_copy_of_the_value() -> None:
    allowed = ["a"]
    condition = parse_condition({"field": "payload.x", "op": "in", "value": allowed})

    allowed.append("b")

    assert not condition.matches(stored_event(payload={"x": "b"}))
    assert condition.to_document()["value"] == ["a"]
