"""Silences: "do not send anomalies like these for a while". A silenced anomaly is still stored
and its delivery is recorded as `silenced`; nothing is sent.

A silence matches an anomaly when the silence is active at the given instant
(`starts_at <= at < ends_at`) and every matcher it has agrees: `rule_id` (the anomaly's rule is
one of them), `severity` (likewise) and `group` (each named group field has exactly that value
in the anomaly's group). A matcher left out matches anything, but a silence needs at least one
matcher: silencing everything is a configuration change, not a silence.

A document (the API body) is `{"matchers": {"rule_id": [...], "severity": [...], "group":
{...}}, "starts_at": RFC 3339 (default: now), "ends_at": RFC 3339 | "duration": "2h",
"comment": "...", "created_by": "..."}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from eventpulse.domain.errors import FieldError, InvalidInput
from eventpulse.domain.rules.durations import parse_duration

SEVERITIES: Final = ("info", "warning", "critical")
_FIELDS: Final = {"matchers", "starts_at", "ends_at", "duration", "comment", "created_by"}
_MATCHERS: Final = {"rule_id", "severity", "group"}


@dataclass(frozen=True, slots=True)
class Silence:
    silence_id: str
    starts_at: datetime
    ends_at: datetime
    rule_ids: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    group: Mapping[str, Any] = field(default_factory=dict)
    comment: str = ""
    created_by: str = ""

    def matches(self, rule_id: str, severity: str, group: Mapping[str, Any], at: datetime) -> bool:
        if not self.starts_at <= at < self.ends_at:
            return False
        if self.rule_ids and rule_id not in self.rule_ids:
            return False
        if self.severities and severity not in self.severities:
            return False
        return all(key in group and group[key] == value for key, value in self.group.items())

    def matchers(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        if self.rule_ids:
            found["rule_id"] = list(self.rule_ids)
        if self.severities:
            found["severity"] = list(self.severities)
        if self.group:
            found["group"] = dict(self.group)
        return found


def silence_from_document(body: Any, silence_id: str, now: datetime) -> Silence:
    """A validated silence; `InvalidInput` names every field at fault."""
    if not isinstance(body, Mapping):
        raise InvalidInput([FieldError("body", "expected an object")], "invalid silence")
    errors = [FieldError(str(key), "unknown field") for key in body if key not in _FIELDS]
    matchers = body.get("matchers")
    rule_ids: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    group: dict[str, Any] = {}
    if not isinstance(matchers, Mapping) or not matchers:
        errors.append(FieldError("matchers", "expected at least one of rule_id, severity, group"))
    else:
        errors += [
            FieldError(f"matchers.{key}", "unknown matcher")
            for key in matchers
            if key not in _MATCHERS
        ]
        rule_ids = _strings(matchers.get("rule_id", []), "matchers.rule_id", errors)
        severities = _strings(matchers.get("severity", []), "matchers.severity", errors)
        for index, severity in enumerate(severities):
            if severity not in SEVERITIES:
                errors.append(
                    FieldError(
                        f"matchers.severity[{index}]", f"expected one of {', '.join(SEVERITIES)}"
                    )
                )
        raw_group = matchers.get("group", {})
        if isinstance(raw_group, Mapping) and all(isinstance(k, str) for k in raw_group):
            group = dict(raw_group)
        else:
            errors.append(FieldError("matchers.group", "expected an object of field: value"))
        if not (rule_ids or severities or group) and not any(
            e.field.startswith("matchers") for e in errors
        ):
            errors.append(
                FieldError("matchers", "expected at least one of rule_id, severity, group")
            )
    starts_at = _instant(body.get("starts_at"), "starts_at", errors) or now
    ends_at = _end(body, starts_at, errors)
    comment, created_by = body.get("comment", ""), body.get("created_by", "")
    for name, value in (("comment", comment), ("created_by", created_by)):
        if not isinstance(value, str) or len(value) > 1000:
            errors.append(FieldError(name, "expected text of at most 1000 characters"))
    if errors:
        raise InvalidInput(errors, "invalid silence")
    assert ends_at is not None
    return Silence(
        silence_id, starts_at, ends_at, rule_ids, severities, group, str(comment), str(created_by)
    )


def _strings(value: Any, name: str, errors: list[FieldError]) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        errors.append(FieldError(name, "expected a list of non-empty strings"))
        return ()
    return tuple(value)


def _instant(value: Any, name: str, errors: list[FieldError]) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is not None:
            return moment
    errors.append(FieldError(name, "expected an RFC 3339 timestamp with an offset"))
    return None


def _end(body: Mapping[str, Any], starts_at: datetime, errors: list[FieldError]) -> datetime | None:
    has_end, has_duration = "ends_at" in body, "duration" in body
    if has_end == has_duration:
        errors.append(FieldError("ends_at", "give exactly one of ends_at and duration"))
        return None
    if has_duration:
        try:
            return starts_at + timedelta(seconds=parse_duration(body["duration"]))
        except ValueError as exc:
            errors.append(FieldError("duration", str(exc)))
            return None
    ends_at = _instant(body["ends_at"], "ends_at", errors)
    if ends_at is not None and ends_at <= starts_at:
        errors.append(FieldError("ends_at", "must be after starts_at"))
        return None
    return ends_at
