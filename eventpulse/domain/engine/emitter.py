"""Where rule types hand their findings: cooldown, anomaly ids, and the output list.

Cooldown, per group: a finding whose ts is earlier than the ts of the group's previous emitted
anomaly plus `cooldown` is suppressed (counted, never emitted). Findings reach the emitter in
event-time order, so which ones are suppressed does not depend on batching.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventpulse.domain.engine.anomaly import Anomaly, anomaly_id
from eventpulse.domain.engine.keys import GroupKey, group_key_of, group_values, key_value
from eventpulse.domain.engine.windows import epoch_number, to_datetime


@dataclass(frozen=True, slots=True)
class Finding:
    """What a rule type found, before cooldown; times are epoch seconds."""

    group: GroupKey
    ts: float
    window: tuple[float, float]
    value: float | None
    details: dict[str, Any]
    event_id: str | None = None
    event_ts: datetime | None = None
    """The event's own timestamp for per-event findings (kept exact, not via a float)."""


class Emitter:
    def __init__(
        self,
        rule_id: str,
        version: int,
        severity: str,
        message: str | None,
        group_by: tuple[str, ...],
        cooldown: int | None,
    ) -> None:
        self._rule = (rule_id, version, severity, message)
        self._fields = group_by
        self._cooldown = cooldown
        self._last: dict[GroupKey, float] = {}
        self._pruned_at = float("-inf")
        self.suppressed = 0
        self.out: list[Anomaly] = []

    def emit(self, finding: Finding) -> None:
        if self._cooldown is not None:
            last = self._last.get(finding.group)
            if last is not None and finding.ts < last + self._cooldown:
                self.suppressed += 1
                return
            self._last[finding.group] = finding.ts
        self.out.append(self._anomaly(finding))

    def _anomaly(self, finding: Finding) -> Anomaly:
        rule_id, version, severity, message = self._rule
        parts = zip(self._fields, finding.group, strict=True)
        group = {name: key_value(part) for name, part in parts}
        start, end = finding.window
        bounds = (epoch_number(start), epoch_number(end))
        exact = finding.event_ts
        return Anomaly(
            anomaly_id=anomaly_id(rule_id, version, group, bounds, finding.event_id),
            rule_id=rule_id,
            rule_version=version,
            severity=severity,
            group=group,
            window_start=exact or to_datetime(start),
            window_end=exact or to_datetime(end),
            ts=exact or to_datetime(finding.ts),
            value=finding.value,
            message=message,
            details=finding.details,
        )

    def prune(self, until: float) -> None:
        """Forget cooldowns that can no longer suppress: every later finding has ts >= until."""
        cooldown = self._cooldown
        if cooldown is None or until - self._pruned_at < cooldown:
            return
        self._pruned_at = until
        self._last = {k: ts for k, ts in self._last.items() if ts + cooldown > until}

    def take(self) -> list[Anomaly]:
        out, self.out = self.out, []
        return out

    def state(self) -> dict[str, Any]:
        return {
            "suppressed": self.suppressed,
            "last": [[group_values(k), ts] for k, ts in self._last.items()],
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.suppressed = state["suppressed"]
        self._last = {group_key_of(values): ts for values, ts in state["last"]}
        self._pruned_at = float("-inf")
