"""Typed reads of a rule document's top-level fields, collecting every problem on the way.

Each read returns a usable value even when the field is wrong (a placeholder, after recording a
`FieldError` at the field's path), so a document is read to the end and all of its problems are
reported at once; the caller raises when any was recorded. A JSON null counts as absent.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, TypeVar

from eventpulse.domain.errors import FieldError
from eventpulse.domain.rules.durations import parse_duration
from eventpulse.domain.rules.fields import FieldRef
from eventpulse.domain.rules.json_values import is_number

E = TypeVar("E", bound=enum.StrEnum)

REQUIRED = "field required"


class DocumentReader:
    def __init__(self, doc: Mapping[str, Any], errors: list[FieldError]) -> None:
        self.doc = doc
        self.errors = errors

    def error(self, path: str, message: str) -> None:
        self.errors.append(FieldError(path, message))

    def has(self, name: str) -> bool:
        return self.doc.get(name) is not None

    def _raw(self, name: str, required: bool) -> Any:
        if required and not self.has(name):
            self.error(name, REQUIRED)
        return self.doc.get(name)

    def string(self, name: str, *, required: bool = False, max_length: int | None = None) -> str:
        raw = self._raw(name, required)
        if raw is None:
            return ""
        if not isinstance(raw, str):
            self.error(name, "expected a string")
            return ""
        if max_length is not None and len(raw) > max_length:
            self.error(name, f"at most {max_length} characters")
        return raw

    def boolean(self, name: str, *, default: bool) -> bool:
        raw = self.doc.get(name)
        if raw is None:
            return default
        if not isinstance(raw, bool):
            self.error(name, "expected true or false")
            return default
        return raw

    def choice(self, name: str, kind: type[E], *, required: bool = False) -> E | None:
        """The member of `kind` named by the field; None when absent or invalid."""
        raw = self._raw(name, required)
        if raw is None:
            return None
        if not isinstance(raw, str) or raw not in {member.value for member in kind}:
            expected = ", ".join(repr(member.value) for member in kind)
            self.error(name, f"expected one of {expected}")
            return None
        return kind(raw)

    def integer(self, name: str, *, default: int, minimum: int, maximum: int | None = None) -> int:
        raw = self.doc.get(name)
        if raw is None:
            return default
        if raw.__class__ is not int:
            self.error(name, "expected an integer")
            return default
        if raw < minimum or (maximum is not None and raw > maximum):
            bounds = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
            self.error(name, f"must be {bounds}")
        return int(raw)

    def number(self, name: str, *, required: bool = False) -> float | None:
        raw = self._raw(name, required)
        if raw is None:
            return None
        if not is_number(raw):
            self.error(name, "expected a number")
            return None
        number: float = raw
        return number

    def duration(
        self, name: str, *, required: bool = False, allow_zero: bool = False
    ) -> int | None:
        raw = self._raw(name, required)
        if raw is None:
            return None
        try:
            return parse_duration(raw, allow_zero=allow_zero)
        except ValueError as exc:
            self.error(name, str(exc))
            return None

    def field_ref(self, name: str, *, required: bool = False) -> FieldRef | None:
        raw = self._raw(name, required)
        return None if raw is None else self._parse_ref(name, raw)

    def _parse_ref(self, path: str, raw: object) -> FieldRef | None:
        try:
            return FieldRef.parse(raw)
        except ValueError as exc:
            self.error(path, str(exc))
            return None

    def field_refs(self, name: str) -> tuple[FieldRef, ...]:
        refs: list[FieldRef] = []
        for path, raw in self._items(name):
            ref = self._parse_ref(path, raw)
            if ref is not None and ref in refs:
                self.error(path, f"duplicate field {ref.text!r}")
            elif ref is not None:
                refs.append(ref)
        return tuple(refs)

    def strings(self, name: str) -> tuple[str, ...]:
        found: list[str] = []
        for path, raw in self._items(name):
            if isinstance(raw, str) and raw:
                found.append(raw)
            else:
                self.error(path, "expected a non-empty string")
        return tuple(found)

    def _items(self, name: str) -> list[tuple[str, Any]]:
        raw = self.doc.get(name)
        if raw is None:
            return []
        if not isinstance(raw, list):
            self.error(name, "expected a list")
            return []
        return [(f"{name}[{index}]", item) for index, item in enumerate(raw)]
