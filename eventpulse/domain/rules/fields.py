"""Field references: which value of an event a condition, a `group_by` or an aggregate reads.

`event_type`, `source`, `payload` (the whole payload) or `payload.<path>`: dot-separated keys,
each non-empty. A segment of digits (`0`, `12`; no sign, no leading zero) indexes a list when the
value at that point is a list, and is an ordinary key when it is an object. Keys that contain a
dot cannot be referenced. A reference that leads nowhere yields `MISSING`, which is distinct from
a JSON `null` stored in the payload.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Final

from eventpulse.domain.events import Event


class _Missing(enum.Enum):
    MISSING = "MISSING"

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing.MISSING
"""What `FieldRef.get` returns when the event has no value at the reference."""

_ROOTS: Final = ("event_type", "source", "payload")


@dataclass(frozen=True, slots=True)
class FieldRef:
    """A parsed field reference; `text` is how the rule document writes it."""

    text: str
    root: str
    path: tuple[str, ...] = ()
    # Per segment, the list index it denotes (or -1): computed once, read on every event.
    _indexes: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_indexes", tuple(_index(segment) for segment in self.path))

    @classmethod
    def parse(cls, text: object) -> FieldRef:
        if not isinstance(text, str):
            raise ValueError("expected a field reference string")
        root, dot, rest = text.partition(".")
        if root not in _ROOTS or (dot and root != "payload"):
            raise ValueError(
                f"unknown field {text!r}: expected 'event_type', 'source', 'payload' "
                "or 'payload.<path>'"
            )
        if not dot:
            return cls(text, root)
        path = tuple(rest.split("."))
        if "" in path:
            raise ValueError(f"invalid field {text!r}: empty key in the payload path")
        return cls(text, root, path)

    def get(self, event: Event) -> object:
        """The referenced value of `event`, or `MISSING`."""
        if self.root == "event_type":
            return event.event_type
        if self.root == "source":
            return event.source
        value: object = event.payload
        for key, index in zip(self.path, self._indexes, strict=True):
            if isinstance(value, dict):
                value = value.get(key, MISSING)
                if value is MISSING:
                    return MISSING
            elif isinstance(value, list) and 0 <= index < len(value):
                value = value[index]
            else:
                return MISSING
        return value

    def __str__(self) -> str:
        return self.text


def _index(segment: str) -> int:
    if segment.isascii() and segment.isdigit() and (segment == "0" or segment[0] != "0"):
        return int(segment)
    return -1
