"""An anomaly's message: the port that renders a rule's `message` template, and the fallbacks.

A template sees `rule_id`, `rule_version`, `rule_name` (the rule's id when its name is not
known), `severity`, `group` (field reference → value: `group.source`,
`group['payload.host']`), `window_start`, `window_end` and `ts` (ISO 8601 in UTC, `Z` suffix),
`value` (None for `match` and `new_value`) and `details` (the rule type's own facts).

`render_anomaly` never raises, so that no anomaly is lost because of its message: a rule without
a template, or whose template renders blank, gets `default_message`; a template that is refused
or fails gives "message template failed (<why>); <default message>".
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from eventpulse.domain.engine import Anomaly
from eventpulse.domain.errors import EventPulseError

MAX_RENDERED_CHARS: Final = 4000
"""The longest message; longer ones are cut and end with an ellipsis."""


class MessageTemplateError(EventPulseError):
    """A template was refused (and not run) or failed; the message is one line saying why."""


class MessageTemplates(Protocol):
    def check(self, template: str) -> str | None:
        """None when `template` is acceptable, else one line saying what is wrong and where."""
        ...

    def render(self, template: str, context: Mapping[str, Any]) -> str:
        """The text, at most MAX_RENDERED_CHARS long; MessageTemplateError, and no other error,
        when the template is refused by `check` (it is then not run) or fails."""
        ...


def message_context(anomaly: Anomaly, rule_name: str | None) -> dict[str, Any]:
    """The variables a template sees."""
    return {
        "rule_id": anomaly.rule_id,
        "rule_version": anomaly.rule_version,
        "rule_name": rule_name or anomaly.rule_id,
        "severity": anomaly.severity,
        "group": dict(anomaly.group),
        "window_start": iso_utc(anomaly.window_start),
        "window_end": iso_utc(anomaly.window_end),
        "ts": iso_utc(anomaly.ts),
        "value": anomaly.value,
        "details": dict(anomaly.details),
    }


def default_message(anomaly: Anomaly, rule_name: str | None) -> str:
    """E.g. `CPU high: value 97.5 for host=a in [2024-01-01T00:00:00Z, 2024-01-01T00:05:00Z)`;
    per-event anomalies (`match`, `new_value`) show their details and `at <ts>` instead."""
    per_event = anomaly.window_start == anomaly.window_end
    facts = [] if anomaly.value is None else [f"value {_text(anomaly.value)}"]
    if per_event and anomaly.details:
        facts.append(_pairs(anomaly.details))
    parts = [f"{rule_name or anomaly.rule_id}:", " ".join(facts) or "anomaly"]
    if anomaly.group:
        parts.append(f"for {_pairs(anomaly.group)}")
    if per_event:
        parts.append(f"at {iso_utc(anomaly.ts)}")
    else:
        parts.append(f"in [{iso_utc(anomaly.window_start)}, {iso_utc(anomaly.window_end)})")
    return shorten(" ".join(parts))


def render_anomaly(anomaly: Anomaly, templates: MessageTemplates, rule_name: str | None) -> Anomaly:
    """The anomaly with `message` rendered from the template it carries (see the module doc)."""
    default = default_message(anomaly, rule_name)
    if anomaly.message is None:
        return dataclasses.replace(anomaly, message=default)
    try:
        text = templates.render(anomaly.message, message_context(anomaly, rule_name))
    except Exception as exc:  # any failure, even an adapter's bug, must not lose the anomaly
        why = " ".join(str(exc).split()) or type(exc).__name__
        text = shorten(f"message template failed ({shorten(why, 300)}); {default}")
    return dataclasses.replace(anomaly, message=text if text.strip() else default)


def shorten(text: str, limit: int = MAX_RENDERED_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with a `Z` suffix; a naive datetime is taken to be in UTC already."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _pairs(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{name}={_text(value)}" for name, value in values.items())


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, float):
        return format(value, ".6g")
    return json.dumps(value, ensure_ascii=False, default=str)
