"""The condition tree of a rule's `filter`, and what each operator means.

A condition is a group or a leaf. Groups have exactly one key: `{"all": [c, ...]}` (every child
matches), `{"any": [c, ...]}` (at least one does), `{"not": c}`; `all`/`any` take a non-empty
list. A leaf is `{"field": f, "op": o, "value": v}` with all three keys (see `fields` for `f`).
An absent, null or empty (`{}`) filter matches every event: `MATCH_ALL`.

Semantics of a leaf, where x is the field's value in the event:

- A missing field (no such key or index: not the same as a JSON null) makes every operator
  false except `exists` with value false. In particular `ne` and `not_in` are false too: they
  state something about a value, and there is none.
- Equality (`eq`, `ne`, `in`, `not_in`, and list membership in `contains`) is JSON equality:
  numbers compare as numbers, so `1` equals `1.0`; booleans equal only booleans, never `1`/`0`;
  strings, null, lists (in order) and objects (key by key) compare by content.
  `ne` is true for any present x not equal to v, including x of another type; `not_in` likewise.
- Ordering (`gt gte lt lte`; v is a number or a string) compares a number with a number, or a
  string with a string (by code point); for any other x, including booleans, it is false.
- `contains`: if x is a string and v a string, whether v is a substring of x; if x is a list,
  whether one of its items equals v (v may be any JSON scalar); otherwise false.
- `startswith`: x and v strings, `x.startswith(v)`; otherwise false.
- `regex`: x a string, and the pattern (checked by `safe_regex`) is found anywhere in it
  (search, not fullmatch; anchor with `^`/`$`) within its first 4096 characters; else false.
- `exists`: v true is "x is present" (a JSON null is present), v false is "x is missing".
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

from eventpulse.domain.errors import FieldError, InvalidInput
from eventpulse.domain.events import Event
from eventpulse.domain.rules.fields import FieldRef
from eventpulse.domain.rules.json_values import JsonValue, json_key
from eventpulse.domain.rules.operators import Operator, Test, build_test

MAX_DEPTH: Final = 32
"""Deepest nesting of groups a filter may have."""

_LEAF_KEYS: Final = ("field", "op", "value")
_GROUP_KEYS: Final = frozenset({"all", "any", "not"})
_OPERATORS: Final = frozenset(op.value for op in Operator)


@dataclass(frozen=True, slots=True)
class Comparison:
    """A leaf: compare one field of the event with a constant. Raises ValueError if invalid."""

    field: FieldRef
    op: Operator
    value: JsonValue = dataclasses.field(compare=False)
    _key: Hashable = dataclasses.field(init=False, repr=False)
    _get: Callable[[Event], object] = dataclasses.field(init=False, repr=False, compare=False)
    _test: Test = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        value = copy.deepcopy(self.value)
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "_test", build_test(self.op, value))
        object.__setattr__(self, "_key", json_key(value))
        object.__setattr__(self, "_get", self.field.get)

    def matches(self, event: Event) -> bool:
        return self._test(self._get(event))

    def to_document(self) -> dict[str, Any]:
        return {"field": self.field.text, "op": self.op.value, "value": copy.deepcopy(self.value)}


@dataclass(frozen=True, slots=True)
class AllOf:
    children: tuple[Condition, ...]

    def matches(self, event: Event) -> bool:
        # Runs per event: a plain loop costs half of all() over a generator.
        for child in self.children:  # noqa: SIM110
            if not child.matches(event):
                return False
        return True

    def to_document(self) -> dict[str, Any]:
        return {"all": [child.to_document() for child in self.children]}


@dataclass(frozen=True, slots=True)
class AnyOf:
    children: tuple[Condition, ...]

    def matches(self, event: Event) -> bool:
        for child in self.children:  # noqa: SIM110 - see AllOf.matches
            if child.matches(event):
                return True
        return False

    def to_document(self) -> dict[str, Any]:
        return {"any": [child.to_document() for child in self.children]}


@dataclass(frozen=True, slots=True)
class Not:
    child: Condition

    def matches(self, event: Event) -> bool:
        return not self.child.matches(event)

    def to_document(self) -> dict[str, Any]:
        return {"not": self.child.to_document()}


@dataclass(frozen=True, slots=True)
class MatchAll:
    """The empty filter."""

    def matches(self, event: Event) -> bool:
        return True

    def to_document(self) -> dict[str, Any]:
        return {}


MATCH_ALL: Final = MatchAll()

Condition: TypeAlias = AllOf | AnyOf | Not | Comparison | MatchAll


def parse_condition(doc: object, path: str = "filter") -> Condition:
    """The condition tree of `doc`; InvalidInput naming every field at fault (e.g.
    `filter.any[2].op`) when it is not valid."""
    errors: list[FieldError] = []
    condition = read_condition(doc, path, errors)
    if errors:
        raise InvalidInput(errors, "invalid condition")
    return condition


def read_condition(doc: object, path: str, errors: list[FieldError]) -> Condition:
    """Like `parse_condition`, but appends the problems to `errors`; the result is meaningful
    only if none was added."""
    if doc is None or (isinstance(doc, Mapping) and not doc):
        return MATCH_ALL
    return _node(doc, path, errors, 1) or MATCH_ALL


def _node(doc: object, path: str, errors: list[FieldError], depth: int) -> Condition | None:
    if not isinstance(doc, Mapping):
        errors.append(FieldError(path, "expected an object"))
        return None
    if depth > MAX_DEPTH:
        errors.append(FieldError(path, f"conditions nest at most {MAX_DEPTH} levels deep"))
        return None
    if _GROUP_KEYS & doc.keys():
        return _group(doc, path, errors, depth)
    if doc.keys() & set(_LEAF_KEYS):
        return _leaf(doc, path, errors)
    errors.append(
        FieldError(path, "expected a condition: 'all', 'any', 'not' or field, op and value")
    )
    return None


def _group(
    doc: Mapping[Any, Any], path: str, errors: list[FieldError], depth: int
) -> Condition | None:
    if len(doc) != 1:
        errors.append(FieldError(path, "a group has exactly one key: 'all', 'any' or 'not'"))
    built: list[Condition | None] = []
    for key in sorted(_GROUP_KEYS & doc.keys()):
        if key == "not":
            child = _node(doc[key], f"{path}.not", errors, depth + 1)
            built.append(None if child is None else Not(child))
        else:
            built.append(_children(key, doc[key], f"{path}.{key}", errors, depth))
    return built[0] if len(doc) == 1 else None


def _children(
    key: str, items: object, path: str, errors: list[FieldError], depth: int
) -> Condition | None:
    if not isinstance(items, list) or not items:
        errors.append(FieldError(path, "expected a non-empty list of conditions"))
        return None
    children = [_node(item, f"{path}[{i}]", errors, depth + 1) for i, item in enumerate(items)]
    if any(child is None for child in children):
        return None
    kept = tuple(child for child in children if child is not None)
    return AllOf(kept) if key == "all" else AnyOf(kept)


def _leaf(doc: Mapping[Any, Any], path: str, errors: list[FieldError]) -> Comparison | None:
    before = len(errors)
    errors.extend(
        FieldError(f"{path}.{key}", "unknown field") for key in doc if key not in _LEAF_KEYS
    )
    errors.extend(
        FieldError(f"{path}.{key}", "field required") for key in _LEAF_KEYS if key not in doc
    )
    field = _field(doc["field"], f"{path}.field", errors) if "field" in doc else None
    op = _operator(doc["op"], f"{path}.op", errors) if "op" in doc else None
    if op is None or "value" not in doc:
        return None
    try:
        if field is None:
            build_test(op, doc["value"])  # only to report a bad value as well
            return None
        comparison = Comparison(field, op, doc["value"])
    except ValueError as exc:
        errors.append(FieldError(f"{path}.value", str(exc)))
        return None
    return comparison if len(errors) == before else None


def _field(raw: object, path: str, errors: list[FieldError]) -> FieldRef | None:
    try:
        return FieldRef.parse(raw)
    except ValueError as exc:
        errors.append(FieldError(path, str(exc)))
        return None


def _operator(raw: object, path: str, errors: list[FieldError]) -> Operator | None:
    if isinstance(raw, str) and raw in _OPERATORS:
        return Operator(raw)
    errors.append(FieldError(path, f"unknown operator {raw!r}"))
    return None
