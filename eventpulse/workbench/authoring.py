"""Writing rules in a notebook: from a dict, YAML text or keyword helpers, checked as you go.

A `Rule` holds a rule document as written and what is wrong with it, checked exactly as the
API checks a rule (the domain's `parse_rule`, plus the message template's sandbox check).
An invalid rule still displays: its problems are listed as `path: message` (`value: expected a
number`), in a notebook as an HTML list. Backtesting or publishing it raises `InvalidRule` with
the same list, before anything runs or is stored.

>>> cold = threshold(
...     "Machine too cold", agg="avg", field="payload.value", window="1h", op="lt", value=50,
...     filter=where("source", "eq", "machine_temperature_system_failure"),
...     group_by=["source"], cooldown="6h", lateness="10m", rule_id="machine-cold")
>>> cold.valid
True
>>> cold.with_fields(value=45).document["value"]
45
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict, Unpack

import yaml

from eventpulse.application.rule_ids import is_rule_id
from eventpulse.application.rules import RESOURCE_FIELDS, template_errors
from eventpulse.domain.errors import FieldError, InvalidInput
from eventpulse.domain.rules import parse_rule
from eventpulse.infrastructure.jinja_messages import JinjaMessageTemplates


class InvalidRule(InvalidInput):
    """A rule that cannot be backtested or published; `errors` name each fault's path."""

    def __init__(self, errors: Sequence[FieldError], name: str | None = None) -> None:
        super().__init__(list(errors), "invalid rule")
        self.name = name

    def __str__(self) -> str:
        title = f"invalid rule {self.name!r}" if self.name else "invalid rule"
        return "\n".join([f"{title}:", *(f"  {e.field}: {e.message}" for e in self.errors)])


@dataclass(frozen=True)
class Rule:
    """A rule document and its problems (empty when valid). Build one with `rule()` or a
    helper (`threshold`, `match`, `spike`, `absence`, `new_value`)."""

    document: dict[str, Any]
    problems: tuple[FieldError, ...] = field(default=())

    @property
    def valid(self) -> bool:
        return not self.problems

    @property
    def rule_id(self) -> str | None:
        value = self.document.get("rule_id")
        return value if isinstance(value, str) else None

    @property
    def name(self) -> str | None:
        value = self.document.get("name")
        return value if isinstance(value, str) else None

    def with_fields(self, **fields: Any) -> Rule:
        """A copy with these fields set (None removes one), checked again.

        >>> rule({"name": "x", "type": "match"}).with_fields(severity="critical").valid
        True
        """
        document = {k: v for k, v in (self.document | fields).items() if v is not None}
        return rule(document)

    def checked(self) -> Rule:
        """This rule; `InvalidRule` listing every problem if it has any."""
        if self.problems:
            raise InvalidRule(self.problems, self.name)
        return self

    def normalized(self) -> dict[str, Any]:
        """The document as it is stored: defaults filled in, durations normalised (plus the
        `rule_id`, if it names one). `InvalidRule` if it is not valid."""
        self.checked()
        body = {k: v for k, v in self.document.items() if k not in RESOURCE_FIELDS}
        document = parse_rule(body).to_document()
        return document if self.rule_id is None else {"rule_id": self.rule_id} | document

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.document, sort_keys=False, allow_unicode=True)

    def __repr__(self) -> str:
        state = "valid" if self.valid else f"{len(self.problems)} problem(s)"
        lines = [f"Rule({self.rule_id or self.name or '?'}; {state})"]
        lines += [f"  {e.field}: {e.message}" for e in self.problems]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        title = html.escape(f"{self.rule_id or '(no rule_id)'} · {self.name or '(no name)'}")
        if self.valid:
            status = '<p style="color:#1a7f37">✔ valid</p>'
        else:
            items = "".join(
                f"<li><code>{html.escape(e.field)}</code>: {html.escape(e.message)}</li>"
                for e in self.problems
            )
            status = (
                f'<p style="color:#cf222e">✘ {len(self.problems)} problem(s):</p>'
                f'<ul style="color:#cf222e">{items}</ul>'
            )
        return (
            f"<div><strong>{title}</strong>{status}<pre>{html.escape(self.to_yaml())}</pre></div>"
        )


def rule(source: Rule | Mapping[str, Any] | str | Path) -> Rule:
    """A rule from a dict, YAML (or JSON) text, or a YAML file (`pathlib.Path`), checked.

    >>> rule("{name: Errors, type: match, filter: {field: payload.level, op: eq, value: x}}").valid
    True
    """
    found: object = source
    if isinstance(source, Rule):
        found = source.document
    elif isinstance(source, Path):
        found = source.read_text()
    hint = ""
    if isinstance(found, str):
        try:
            found = yaml.safe_load(found)
        except yaml.YAMLError as exc:
            reason = " ".join(str(exc).split())
            return Rule({}, (FieldError("rule", f"not YAML or JSON: {reason}"),))
        hint = " (to read a file, pass a pathlib.Path)" if isinstance(found, str) else ""
    if not isinstance(found, Mapping):
        return Rule({}, (FieldError("rule", f"expected a rule document (a mapping){hint}"),))
    document = {str(key): value for key, value in found.items()}
    return Rule(document, tuple(check(document)))


def check(document: Mapping[str, Any]) -> list[FieldError]:
    """Every problem of a rule document, as the API would report it."""
    errors: list[FieldError] = []
    rule_id = document.get("rule_id")
    if rule_id is not None and not is_rule_id(rule_id):
        errors.append(FieldError("rule_id", "expected 1..64 of a-z 0-9 _ . - (first a-z 0-9)"))
    body = {k: v for k, v in document.items() if k not in RESOURCE_FIELDS}
    try:
        spec = parse_rule(body)
    except InvalidInput as invalid:
        errors += invalid.errors
    else:
        errors += template_errors(spec.to_document(), JinjaMessageTemplates())
    return errors


def where(field: str, op: str, value: Any = None) -> dict[str, Any]:
    """One condition of a rule's `filter`: `where("payload.level", "eq", "error")`. Combine
    them as the rule language does: `{"all": [...]}`, `{"any": [...]}`, `{"not": ...}`."""
    condition: dict[str, Any] = {"field": field, "op": op}
    if op != "exists" or value is not None:
        condition["value"] = value
    return condition


class Shared(TypedDict, total=False):
    """What every rule type takes besides its own fields (all optional, as in a document):
    `group_by`, `severity` (default warning), `rule_id`, `cooldown`, `lateness`, `message`,
    `description`, `tags`, `enabled` (default true) — and `filter` (`Common`)."""

    group_by: Sequence[str]
    severity: str
    rule_id: str | None
    cooldown: str | None
    lateness: str | None
    message: str | None
    description: str | None
    tags: Sequence[str]
    enabled: bool


class Common(Shared, total=False):
    filter: Mapping[str, Any] | None


def threshold(
    name: str,
    *,
    agg: str,
    window: str,
    op: str,
    value: float,
    field: str | None = None,
    **common: Unpack[Common],
) -> Rule:
    """The aggregate `agg` (count sum avg min max distinct) of `field` per group over `window`
    compared with `value` by `op` (gt gte lt lte)."""
    own = {"agg": agg, "field": field, "window": window, "op": op, "value": value}
    return _helper("threshold", name, own, common)


def match(name: str, *, filter: Mapping[str, Any], **shared: Unpack[Shared]) -> Rule:
    """Every event passing `filter` is an anomaly (a `cooldown` per group thins them out)."""
    common = Common(**shared, filter=filter)
    return _helper("match", name, {}, common)


def spike(
    name: str,
    *,
    window: str,
    up: float | None = None,
    down: float | None = None,
    reference_windows: int | None = None,
    min_count: int | None = None,
    **common: Unpack[Common],
) -> Rule:
    """A window's event count at least `up` times (or at most `down` times) the mean of the
    `reference_windows` before it."""
    own = {
        "window": window,
        "up": up,
        "down": down,
        "reference_windows": reference_windows,
        "min_count": min_count,
    }
    return _helper("spike", name, own, common)


def absence(
    name: str,
    *,
    window: str,
    min_count: int | None = None,
    forget_after: str | None = None,
    **common: Unpack[Common],
) -> Rule:
    """A group seen before has fewer than `min_count` events in a window (a flatline)."""
    own = {"window": window, "min_count": min_count, "forget_after": forget_after}
    return _helper("absence", name, own, common)


def new_value(
    name: str,
    *,
    field: str,
    learning: str | None = None,
    lookback: str | None = None,
    **common: Unpack[Common],
) -> Rule:
    """The first time `field` takes a value in a group, once `learning` is over."""
    own = {"field": field, "learning": learning, "lookback": lookback}
    return _helper("new_value", name, own, common)


def _helper(rule_type: str, name: str, own: Mapping[str, Any], common: Common) -> Rule:
    filter_ = common.get("filter")
    document: dict[str, Any] = {
        "rule_id": common.get("rule_id"),
        "name": name,
        "description": common.get("description"),
        "enabled": common.get("enabled", True),
        "severity": common.get("severity", "warning"),
        "type": rule_type,
        "filter": None if filter_ is None else dict(filter_),
        "group_by": list(common.get("group_by", ())) or None,
        "cooldown": common.get("cooldown"),
        "lateness": common.get("lateness"),
        "message": common.get("message"),
        "tags": list(common.get("tags", ())) or None,
        **own,
    }
    return rule({k: v for k, v in document.items() if v is not None})
