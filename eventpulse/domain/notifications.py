"""Notification routing: which channels an anomaly goes to, and how a channel retries.

A route matches an anomaly when every matcher it has agrees: `severities` (the anomaly's
severity is one of them), `rule_ids` (likewise) and `tags` (the rule has at least one of them).
A route without matchers matches every anomaly. Every matching route applies, but a channel
receives an anomaly once: through the first matching route (in file order) that names it,
because a channel records at most one success per anomaly.

A failed attempt is retried after `base·2^(n-1)` seconds (n = failures so far), capped at `cap`,
times a jitter factor in [0.5, 1] so that channels recovering from an outage are not hit by
every retry at once; after `max_attempts` attempts the delivery is dead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 5
    base_s: float = 0.5
    cap_s: float = 30.0
    timeout_s: float = 10.0

    def delay(self, failures: int, jitter: float) -> float:
        """Seconds to wait after the `failures`-th failed attempt; `jitter` is in [0.5, 1]."""
        exponent = min(max(failures - 1, 0), 62)  # 2**62·base is past any cap
        return min(self.cap_s, math.ldexp(self.base_s, exponent)) * jitter


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    """What routing and delivery need to know of a channel; how it sends is elsewhere."""

    name: str
    type: str
    retry: RetryPolicy = RetryPolicy()
    concurrency: int = 4


@dataclass(frozen=True, slots=True)
class RouteMatch:
    severities: frozenset[str] = frozenset()
    rule_ids: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()

    def matches(self, rule_id: str, severity: str, tags: Sequence[str]) -> bool:
        if self.severities and severity not in self.severities:
            return False
        if self.rule_ids and rule_id not in self.rule_ids:
            return False
        return not self.tags or not self.tags.isdisjoint(tags)


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    channels: tuple[str, ...]
    match: RouteMatch = RouteMatch()
    digest_s: float = 0.0
    """> 0: the route's anomalies are sent per channel as one digest per this many seconds."""


@dataclass(frozen=True, slots=True)
class NotificationPlan:
    channels: Mapping[str, ChannelSpec] = field(default_factory=dict)
    routes: tuple[Route, ...] = ()

    def targets(self, rule_id: str, severity: str, tags: Sequence[str]) -> list[tuple[Route, str]]:
        """(route, channel) pairs for an anomaly: each channel once, by its first route."""
        chosen: dict[str, Route] = {}
        for route in self.routes:
            if route.match.matches(rule_id, severity, tags):
                for channel in route.channels:
                    chosen.setdefault(channel, route)
        return [(route, channel) for channel, route in chosen.items()]


@dataclass(frozen=True, slots=True)
class Notification:
    """What one send carries: one anomaly, or a digest of several (`digest` is set)."""

    route: str
    anomalies: tuple[Mapping[str, Any], ...]
    digest: DigestSummary | None = None


@dataclass(frozen=True, slots=True)
class DigestSummary:
    digest_id: str
    count: int
    by_rule: tuple[tuple[str, int], ...]
    by_severity: tuple[tuple[str, int], ...]
    listed: tuple[Mapping[str, Any], ...]
    """The first anomalies, in arrival order; `count - len(listed)` more are not listed."""
    opened_at: str
    closed_at: str


_SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


def summarize(
    digest_id: str,
    anomalies: Sequence[Mapping[str, Any]],
    listed: int,
    opened_at: str,
    closed_at: str,
) -> DigestSummary:
    by_rule: dict[str, int] = {}
    by_severity: dict[str, int] = {}
    for anomaly in anomalies:
        rule = str(anomaly.get("rule_id", "?"))
        severity = str(anomaly.get("severity", "?"))
        by_rule[rule] = by_rule.get(rule, 0) + 1
        by_severity[severity] = by_severity.get(severity, 0) + 1
    return DigestSummary(
        digest_id,
        len(anomalies),
        tuple(sorted(by_rule.items(), key=lambda item: (-item[1], item[0]))),
        tuple(sorted(by_severity.items(), key=lambda item: _SEVERITY_ORDER.get(item[0], 9))),
        tuple(anomalies[:listed]),
        opened_at,
        closed_at,
    )
