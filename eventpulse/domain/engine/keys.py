"""Hashable keys for JSON values, and back: how groups, distinct values and seen values are held.

A key is the string itself for a string (the common case, kept cheap), and `json_key` of the
value otherwise, so that two values share a key exactly when they are equal as JSON (`1` and
`1.0` do, `true` and `1` do not). A missing field (`MISSING`) has the key of JSON `null`: the
engine does not tell a missing group field from a null one, so both render as `null` in an
anomaly's `group` and the anomaly id stays unique per rendered group.

`key_value` gives the canonical JSON value of a key: numbers that are whole become ints (`1.0`
renders as `1`), so what a key renders to never depends on which of two equal values came first.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from operator import attrgetter
from typing import Any, cast

from eventpulse.domain.events import Event
from eventpulse.domain.rules.fields import MISSING, FieldRef
from eventpulse.domain.rules.json_values import json_key

GroupKey = tuple[Hashable, ...]

_NULL = json_key(None)


def value_key(value: object) -> Hashable:
    if value.__class__ is str:
        return value
    if value is MISSING:
        return _NULL
    return json_key(value)


def key_value(key: Hashable) -> Any:
    """The canonical JSON value whose key is `key`."""
    if isinstance(key, str):
        return key
    kind: str
    inner: Any
    kind, inner = cast(tuple[str, Any], key)
    if kind == "number":
        return int(inner) if isinstance(inner, float) and inner.is_integer() else inner
    if kind == "list":
        return [key_value(item) for item in inner]
    if kind == "object":
        return {name: key_value(item) for name, item in inner}
    return inner


def getter(ref: FieldRef) -> Callable[[Event], object]:
    """`ref.get`, made cheaper for the common references (same results: a test checks it)."""
    if ref.root in ("event_type", "source"):
        return attrgetter(ref.root)
    if len(ref.path) == 1:
        (name,) = ref.path
        return lambda event: event.payload.get(name, MISSING)
    return ref.get


def group_key_function(refs: Sequence[FieldRef]) -> Callable[[Event], GroupKey]:
    """The group key of an event for `group_by` = `refs` (specialised: it runs per event)."""
    getters = tuple(getter(ref) for ref in refs)
    if not getters:
        return lambda event: ()
    if len(getters) == 1:
        (get,) = getters

        def one(event: Event) -> GroupKey:
            value = get(event)
            return (value if value.__class__ is str else value_key(value),)

        return one
    if len(getters) == 2:
        first, second = getters

        def two(event: Event) -> GroupKey:
            a, b = first(event), second(event)
            return (
                a if a.__class__ is str else value_key(a),
                b if b.__class__ is str else value_key(b),
            )

        return two
    return lambda event: tuple([value_key(get(event)) for get in getters])


def group_values(key: GroupKey) -> list[Any]:
    return [key_value(part) for part in key]


def group_key_of(values: Sequence[Any]) -> GroupKey:
    return tuple(value_key(value) for value in values)
