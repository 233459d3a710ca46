"""The rule document: one shape for the API, the CLI and notebooks (JSON or YAML).

Common fields: `name` (1..200 characters, not blank; required), `description` (default ""),
`enabled` (default true), `severity` (`info|warning|critical`, default `warning`), `type`
(required; see `params` for each type's own fields), `filter` (a condition tree, see
`conditions`; default: every event), `group_by` (field references, default none), `cooldown`
(duration; default none), `message` (template, at most 2000 characters, stored as written),
`tags` (non-empty strings) and `lateness`: the allowed lateness of events in event time, the one
duration that may be zero (`0s`, the default). A JSON null is the same as an absent field.

`parse_rule` reports every problem at once, each at its field's path (`value`, `group_by[1]`,
`filter.all[0].value`); a field of another rule type, or no type at all, is an `unknown field`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from eventpulse.domain.errors import FieldError, InvalidInput
from eventpulse.domain.rules.conditions import MATCH_ALL, Condition, read_condition
from eventpulse.domain.rules.durations import format_duration
from eventpulse.domain.rules.fields import FieldRef
from eventpulse.domain.rules.params import FIELDS, READERS, MatchParams, Params, RuleType
from eventpulse.domain.rules.reader import DocumentReader

MAX_NAME_LENGTH: Final = 200
MAX_MESSAGE_LENGTH: Final = 2000

COMMON_FIELDS: Final = frozenset(
    {"name", "description", "enabled", "severity", "type", "filter", "group_by", "cooldown"}
    | {"message", "tags", "lateness"}
)
_TYPE_FIELDS: Final = frozenset().union(*FIELDS.values())


class Severity(enum.StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """A valid rule document; durations are in seconds, `params` holds the type's own fields."""

    name: str
    params: Params
    description: str = ""
    enabled: bool = True
    severity: Severity = Severity.WARNING
    filter: Condition = MATCH_ALL
    group_by: tuple[FieldRef, ...] = ()
    cooldown: int | None = None
    message: str | None = None
    tags: tuple[str, ...] = ()
    lateness: int = 0

    @property
    def type(self) -> RuleType:
        return self.params.type

    def to_document(self) -> dict[str, Any]:
        """The normalised document (durations as strings); `parse_rule` gives this spec back."""
        doc: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "enabled": self.enabled,
            "severity": self.severity.value,
            "type": self.type.value,
        }
        if self.filter is not MATCH_ALL:
            doc["filter"] = self.filter.to_document()
        doc["group_by"] = [ref.text for ref in self.group_by]
        if self.cooldown is not None:
            doc["cooldown"] = format_duration(self.cooldown)
        if self.message is not None:
            doc["message"] = self.message
        doc["tags"] = list(self.tags)
        doc["lateness"] = format_duration(self.lateness)
        return doc | self.params.to_document()


def parse_rule(doc: Mapping[str, Any]) -> RuleSpec:
    """The RuleSpec of a rule document; InvalidInput("invalid rule") naming every fault."""
    if not isinstance(doc, Mapping):
        raise InvalidInput([FieldError("rule", "expected an object")], "invalid rule")
    errors: list[FieldError] = []
    reader = DocumentReader(doc, errors)
    rule_type = reader.choice("type", RuleType, required=True)
    spec = RuleSpec(
        name=_name(reader),
        description=reader.string("description"),
        enabled=reader.boolean("enabled", default=True),
        severity=reader.choice("severity", Severity) or Severity.WARNING,
        filter=read_condition(doc.get("filter"), "filter", errors),
        group_by=reader.field_refs("group_by"),
        cooldown=reader.duration("cooldown"),
        message=_message(reader),
        tags=reader.strings("tags"),
        lateness=reader.duration("lateness", allow_zero=True) or 0,
        params=READERS[rule_type](reader) if rule_type else MatchParams(),
    )
    errors.extend(_unknown_fields(doc, rule_type))
    if errors:
        raise InvalidInput(errors, "invalid rule")
    return spec


def _name(reader: DocumentReader) -> str:
    name = reader.string("name", required=True, max_length=MAX_NAME_LENGTH)
    if reader.has("name") and isinstance(reader.doc["name"], str) and not name.strip():
        reader.error("name", "must not be blank")
    return name


def _message(reader: DocumentReader) -> str | None:
    message = reader.string("message", max_length=MAX_MESSAGE_LENGTH)
    return message if reader.has("message") else None


def _unknown_fields(doc: Mapping[str, Any], rule_type: RuleType | None) -> list[FieldError]:
    allowed = COMMON_FIELDS | (FIELDS[rule_type] if rule_type else _TYPE_FIELDS)
    return [
        FieldError(str(key), f"unknown field for type {rule_type.value!r}")
        if rule_type and key in _TYPE_FIELDS
        else FieldError(str(key), "unknown field")
        for key in doc
        if key not in allowed
    ]
