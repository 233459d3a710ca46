"""The operators of the condition language: the value each accepts, and how each tests a field.

`build_test(op, value)` validates the condition's value (ValueError with a readable message)
and returns a function of the field value (or `MISSING`) to bool. Everything that can be
computed once (sets for `in`, compiled regexes, the JSON kind of the value) is, because the test
runs on every event. The semantics are documented in `conditions`.
"""

from __future__ import annotations

import enum
import operator
from collections.abc import Callable
from typing import Any, Final

from eventpulse.domain.rules.fields import MISSING
from eventpulse.domain.rules.json_values import (
    NUMBER_TYPES,
    is_json,
    is_number,
    is_scalar,
    json_equal,
)
from eventpulse.domain.rules.safe_regex import compile_safe

Test = Callable[[object], bool]


class Operator(enum.StrEnum):
    EQ = "eq"
    NE = "ne"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    IN = "in"
    NOT_IN = "not_in"
    CONTAINS = "contains"
    STARTSWITH = "startswith"
    REGEX = "regex"
    EXISTS = "exists"


_ORDERING: Final[dict[Operator, Callable[[Any, Any], bool]]] = {
    Operator.GT: operator.gt,
    Operator.GTE: operator.ge,
    Operator.LT: operator.lt,
    Operator.LTE: operator.le,
}
_STRING_TYPES: Final[frozenset[type]] = frozenset({str})


def build_test(op: Operator, value: object) -> Test:
    """The test of `op` against `value`; ValueError when `value` does not suit `op`."""
    if op in _ORDERING:
        return _ordering(_ORDERING[op], value)
    return _BUILDERS[op](value)


def _equals(value: object) -> Test:
    if not is_json(value):
        raise ValueError("expected a JSON value")
    if value is None or isinstance(value, bool):
        return lambda x: x is value
    if isinstance(value, str):
        return lambda x: x == value
    if is_number(value):
        return lambda x: x.__class__ in NUMBER_TYPES and x == value
    return lambda x: json_equal(x, value)


def _not_equals(value: object) -> Test:
    equals = _equals(value)
    return lambda x: x is not MISSING and not equals(x)


def _ordering(compare: Callable[[Any, Any], bool], value: object) -> Test:
    kinds: frozenset[type]
    if isinstance(value, str):
        kinds = _STRING_TYPES
    elif is_number(value):
        kinds = NUMBER_TYPES
    else:
        raise ValueError("expected a number or a string")
    return lambda x: x.__class__ in kinds and compare(x, value)


def _member(values: object) -> Test:
    if not isinstance(values, list):
        raise ValueError("expected a list")
    if not is_json(values):
        raise ValueError("expected a list of JSON values")
    strings = frozenset(v for v in values if isinstance(v, str))
    numbers = frozenset(v for v in values if is_number(v))
    booleans = frozenset(v for v in values if isinstance(v, bool))
    has_null = None in values
    containers = tuple(v for v in values if isinstance(v, list | dict))

    def test(x: object) -> bool:
        kind = x.__class__
        if kind is str:
            return x in strings
        if kind in NUMBER_TYPES:
            return x in numbers
        if kind is bool:
            return x in booleans
        if x is None:
            return has_null
        return any(json_equal(x, c) for c in containers) if containers else False

    return test


def _not_member(values: object) -> Test:
    member = _member(values)
    return lambda x: x is not MISSING and not member(x)


def _contains(value: object) -> Test:
    if not is_scalar(value):
        raise ValueError("expected a string, or a JSON scalar to look for in a list")
    same = _equals(value)
    substring = value if isinstance(value, str) else None

    def test(x: object) -> bool:
        if isinstance(x, list):
            for item in x:  # noqa: SIM110 - runs per event; a generator costs twice the loop
                if same(item):
                    return True
            return False
        return substring is not None and isinstance(x, str) and substring in x

    return test


def _startswith(value: object) -> Test:
    if not isinstance(value, str):
        raise ValueError("expected a string")
    return lambda x: isinstance(x, str) and x.startswith(value)


def _regex(value: object) -> Test:
    search = compile_safe(value).search
    return lambda x: isinstance(x, str) and search(x) is not None


def _exists(value: object) -> Test:
    if not isinstance(value, bool):
        raise ValueError("expected true or false")
    if value:
        return lambda x: x is not MISSING
    return lambda x: x is MISSING


_BUILDERS: Final[dict[Operator, Callable[[object], Test]]] = {
    Operator.EQ: _equals,
    Operator.NE: _not_equals,
    Operator.IN: _member,
    Operator.NOT_IN: _not_member,
    Operator.CONTAINS: _contains,
    Operator.STARTSWITH: _startswith,
    Operator.REGEX: _regex,
    Operator.EXISTS: _exists,
}
