"""JSON values as rule documents and event payloads hold them, with JSON's notion of equality.

Python's `==` says `True == 1` and `[True] == [1]`; JSON does not. Here booleans equal only
booleans, numbers equal numbers by value (`1` equals `1.0`), and containers compare item by item.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Final, TypeAlias

JsonValue: TypeAlias = "str | int | float | bool | list[JsonValue] | dict[str, JsonValue] | None"

NUMBER_TYPES: Final = frozenset({int, float})


def is_number(value: object) -> bool:
    """A JSON number: an int or a finite float, never a bool."""
    if value.__class__ is int:
        return True
    return isinstance(value, float) and math.isfinite(value)


def is_scalar(value: object) -> bool:
    return value is None or isinstance(value, str | bool) or is_number(value)


def is_json(value: object) -> bool:
    """Whether `value` is made only of JSON types (finite numbers, string keys)."""
    if isinstance(value, list):
        return all(is_json(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and is_json(v) for k, v in value.items())
    return is_scalar(value)


def json_equal(left: object, right: object) -> bool:
    """Equality as JSON means it (see the module docstring)."""
    if left.__class__ in NUMBER_TYPES:
        return right.__class__ in NUMBER_TYPES and left == right
    if isinstance(left, list):
        return (
            isinstance(right, list)
            and len(left) == len(right)
            and all(json_equal(a, b) for a, b in zip(left, right, strict=True))
        )
    if isinstance(left, dict):
        return (
            isinstance(right, dict)
            and left.keys() == right.keys()
            and all(json_equal(value, right[key]) for key, value in left.items())
        )
    return left.__class__ is right.__class__ and left == right


def json_key(value: object) -> Hashable:
    """A hashable key such that `json_key(a) == json_key(b)` exactly when `json_equal(a, b)`."""
    if isinstance(value, list):
        return ("list", tuple(json_key(item) for item in value))
    if isinstance(value, dict):
        return ("object", tuple(sorted((k, json_key(v)) for k, v in value.items())))
    if value.__class__ in NUMBER_TYPES:
        return ("number", value)
    return (value.__class__.__name__, value)
