"""Routing an anomaly to channels, the retry schedule, and a digest's summary."""

from __future__ import annotations

import pytest

from eventpulse.domain.notifications import (
    NotificationPlan,
    RetryPolicy,
    Route,
    RouteMatch,
    summarize,
)

PLAN = NotificationPlan(
    routes=(
        Route("critical", ("slack", "mail"), RouteMatch(severities=frozenset({"critical"}))),
        Route("audit", ("audit", "slack"), RouteMatch(tags=frozenset({"audit", "pci"}))),
        Route("disk", ("mail",), RouteMatch(rule_ids=frozenset({"disk-full"}))),
        Route(
            "both",
            ("digest",),
            RouteMatch(severities=frozenset({"warning"}), rule_ids=frozenset({"cpu"})),
            digest_s=300,
        ),
    )
)


def channels(rule_id: str, severity: str, tags: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    return [(route.name, channel) for route, channel in PLAN.targets(rule_id, severity, tags)]


@pytest.mark.parametrize(
    ("rule_id", "severity", "tags", "expected"),
    [
        ("x", "critical", (), [("critical", "slack"), ("critical", "mail")]),
        ("x", "info", (), []),
        ("x", "info", ("pci",), [("audit", "audit"), ("audit", "slack")]),
        ("x", "info", ("other",), []),
        ("disk-full", "info", (), [("disk", "mail")]),
        ("cpu", "warning", (), [("both", "digest")]),
        ("cpu", "info", (), []),
        ("mem", "warning", (), []),
    ],
    ids=[
        "severity",
        "no-route",
        "any-tag",
        "other-tag",
        "rule-id",
        "all-matchers",
        "one-matcher-fails",
        "other-fails",
    ],
)
def test_a_route_applies_when_every_matcher_it_has_agrees(
    rule_id: str, severity: str, tags: tuple[str, ...], expected: list[tuple[str, str]]
) -> None:
    assert channels(rule_id, severity, tags) == expected


def test_a_channel_named_by_several_matching_routes_gets_the_anomaly_once_by_the_first() -> None:
    found = channels("disk-full", "critical", ("audit",))
    assert found == [("critical", "slack"), ("critical", "mail"), ("audit", "audit")]


def test_a_route_without_matchers_takes_every_anomaly() -> None:
    plan = NotificationPlan(routes=(Route("all", ("log",)),))
    assert [c for _, c in plan.targets("any", "info", ())] == ["log"]


def test_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    policy = RetryPolicy(max_attempts=8, base_s=0.5, cap_s=5.0)
    assert [policy.delay(n, 1.0) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]


def test_jitter_shortens_a_delay_by_at_most_half() -> None:
    policy = RetryPolicy(base_s=1.0, cap_s=30.0)
    assert policy.delay(3, 0.5) == 2.0
    assert policy.delay(3, 1.0) == 4.0
    assert policy.delay(10_000, 1.0) == 30.0  # no overflow for absurd counts


def test_a_digest_summary_counts_by_rule_and_severity_and_lists_the_first() -> None:
    anomalies = [
        {"anomaly_id": f"a{i}", "rule_id": rule, "severity": severity}
        for i, (rule, severity) in enumerate(
            [("cpu", "warning"), ("disk", "critical"), ("cpu", "warning"), ("cpu", "info")]
        )
    ]
    summary = summarize("d1", anomalies, 2, "t0", "t1")
    assert summary.count == 4
    assert summary.by_rule == (("cpu", 3), ("disk", 1))
    assert summary.by_severity == (("critical", 1), ("warning", 2), ("info", 1))
    assert [a["anomaly_id"] for a in summary.listed] == ["a0", "a1"]
