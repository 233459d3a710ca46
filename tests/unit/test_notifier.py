"""The notify use case over in-memory ports: routing, retries, isolation, dedupe, silences,
digests, and the rule that an entry is acknowledged only once all its channels are final."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from eventpulse.application.notify import Notifier, NotifierOptions
from eventpulse.application.notify_ports import Attempt, Sender
from eventpulse.domain.notifications import (
    ChannelSpec,
    NotificationPlan,
    RetryPolicy,
    Route,
    RouteMatch,
)
from tests.unit.notify_fakes import (
    FakeFeed,
    FakeRecords,
    FakeSender,
    FakeSilences,
    FakeTags,
    anomaly,
    silence_rule,
)

FAST = RetryPolicy(max_attempts=3, base_s=0.01, cap_s=0.05, timeout_s=0.5)
OPTIONS = NotifierOptions(block_ms=10, claim_every_s=60, touch_every_s=60, grace_s=1)


def plan(*routes: Route, retry: RetryPolicy = FAST) -> NotificationPlan:
    names = {channel for route in routes for channel in route.channels}
    return NotificationPlan({n: ChannelSpec(n, "fake", retry) for n in names}, routes)


class Harness:
    def __init__(
        self,
        notification_plan: NotificationPlan,
        senders: dict[str, FakeSender],
        *,
        silences: FakeSilences | None = None,
        tags: FakeTags | None = None,
        options: NotifierOptions = OPTIONS,
    ) -> None:
        self.feed = FakeFeed()
        self.records = FakeRecords()
        self.senders = senders
        as_ports: dict[str, Sender] = dict(senders)
        self.notifier = Notifier(
            self.feed,
            self.records,
            silences or FakeSilences(),
            tags or FakeTags(),
            notification_plan,
            as_ports,
            options,
        )

    def run(self, scenario: Callable[[], Awaitable[None]]) -> None:
        """Run the notifier while `scenario` runs, then stop it (as SIGTERM would)."""
        asyncio.run(self._run(scenario))

    def run_until(self, condition: Callable[[], bool]) -> None:
        self.run(lambda: self.until(condition))

    async def _run(self, scenario: Callable[[], Awaitable[None]]) -> None:
        stop = asyncio.Event()
        self._task = asyncio.create_task(self.notifier.run(stop))
        try:
            await scenario()
        finally:
            stop.set()
            await self._task

    async def until(self, condition: Callable[[], bool], within: float = 5.0) -> None:
        deadline = time.monotonic() + within
        while not condition():
            if self._task.done():
                self._task.result()
                raise AssertionError("the notifier stopped by itself")
            assert time.monotonic() < deadline, "timed out"
            await asyncio.sleep(0.002)

    def all_acked(self, count: int) -> Callable[[], bool]:
        return lambda: len(self.feed.acked) >= count and not self.feed.pending


def test_an_anomaly_goes_to_every_channel_of_its_routes_and_is_acked_once_all_are_sent() -> None:
    h = Harness(
        plan(Route("oncall", ("slack", "mail"), RouteMatch(frozenset({"critical"})))),
        {"slack": FakeSender(), "mail": FakeSender()},
    )
    (entry,) = h.feed.append(anomaly("a1"))
    h.run_until(h.all_acked(1))
    assert h.senders["slack"].sent_ids() == ["a1"] and h.senders["mail"].sent_ids() == ["a1"]
    assert h.records.of("slack") == [("a1", 1, "sent")]
    assert h.feed.acked == [entry]
    assert h.notifier.stats.of("mail", "sent") == 1


def test_an_anomaly_no_route_matches_is_acknowledged_without_a_record() -> None:
    h = Harness(plan(Route("r", ("slack",), RouteMatch(frozenset({"critical"})))), {})
    h.feed.append(anomaly("a1", severity="info"))
    h.run_until(h.all_acked(1))
    assert h.records.rows == []


def test_failed_attempts_are_retried_and_each_is_recorded() -> None:
    h = Harness(plan(Route("r", ("hook",))), {"hook": FakeSender(fail_first=2)})
    h.feed.append(anomaly("a1"))
    h.run_until(h.all_acked(1))
    assert h.records.of("hook") == [("a1", 1, "failed"), ("a1", 2, "failed"), ("a1", 3, "sent")]
    errors = [row.error for row in h.records.rows]
    assert errors[:2] == ["HTTP 500: boom"] * 2 and errors[2] is None


def test_after_the_last_attempt_the_delivery_is_dead_and_the_entry_acknowledged() -> None:
    h = Harness(plan(Route("r", ("hook",))), {"hook": FakeSender(always_fail=True)})
    h.feed.append(anomaly("a1"))
    h.run_until(h.all_acked(1))
    assert h.records.of("hook") == [("a1", 1, "failed"), ("a1", 2, "failed"), ("a1", 3, "dead")]


def test_a_permanent_failure_is_dead_at_once() -> None:
    sender = FakeSender(always_fail=True)
    sender.permanent = True
    h = Harness(plan(Route("r", ("hook",))), {"hook": sender})
    h.feed.append(anomaly("a1"))
    h.run_until(h.all_acked(1))
    assert h.records.of("hook") == [("a1", 1, "dead")]


def test_a_hanging_channel_does_not_delay_a_healthy_one() -> None:
    slow = RetryPolicy(max_attempts=2, base_s=0.01, cap_s=0.01, timeout_s=0.5)
    h = Harness(
        plan(Route("r", ("healthy", "stuck")), retry=slow),
        {"healthy": FakeSender(), "stuck": FakeSender(hang=True)},
    )
    h.feed.append(*(anomaly(f"a{i}") for i in range(8)))
    started = time.monotonic()

    async def scenario() -> None:
        await h.until(lambda: len(h.senders["healthy"].sent) == 8)
        assert time.monotonic() - started < 0.5  # before the stuck channel's first timeout
        assert h.feed.acked == []  # the stuck channel's deliveries are not final yet
        await h.until(h.all_acked(8), within=10)

    h.run(scenario)
    assert {row.status for row in h.records.rows if row.channel == "stuck"} == {"failed", "dead"}


def test_a_channel_with_a_success_already_recorded_is_skipped() -> None:
    h = Harness(plan(Route("r", ("slack", "mail"))), {"slack": FakeSender(), "mail": FakeSender()})
    h.records.rows.append(Attempt("a1", "slack", "r", 1, "sent"))
    h.feed.append(anomaly("a1"))
    h.run_until(h.all_acked(1))
    assert h.senders["slack"].sent == [] and h.senders["mail"].sent_ids() == ["a1"]
    assert h.notifier.stats.of("slack", "skipped") == 1


def test_the_same_anomaly_twice_in_the_feed_is_sent_once_and_both_entries_acknowledged() -> None:
    h = Harness(plan(Route("r", ("slack",))), {"slack": FakeSender()})
    ids = h.feed.append(anomaly("a1"), anomaly("a1"))
    h.run_until(h.all_acked(2))
    assert h.senders["slack"].sent_ids() == ["a1"]
    assert sorted(h.feed.acked) == sorted(ids)
    assert h.records.of("slack") == [("a1", 1, "sent")]


def test_a_redelivered_entry_continues_the_attempt_count_and_marks_its_records() -> None:
    h = Harness(plan(Route("r", ("hook",))), {"hook": FakeSender()})
    h.records.rows.append(Attempt("a1", "hook", "r", 1, "failed", "HTTP 500"))
    (entry,) = h.feed.append(anomaly("a1"))
    h.feed.leave_pending(entry)  # read before a crash, never acknowledged
    h.run_until(h.all_acked(1))
    sent = h.records.rows[-1]
    assert (sent.attempt, sent.status, dict(sent.details)) == (2, "sent", {"delivery": 2})


def test_a_silenced_anomaly_is_recorded_silenced_per_channel_and_not_sent() -> None:
    h = Harness(
        plan(Route("r", ("slack", "mail"))),
        {"slack": FakeSender(), "mail": FakeSender()},
        silences=FakeSilences(silence_rule("noisy")),
    )
    h.feed.append(anomaly("quiet", rule_id="noisy"), anomaly("loud", rule_id="cpu"))
    h.run_until(h.all_acked(2))
    assert h.senders["slack"].sent_ids() == ["loud"]
    silenced = [
        (r.anomaly_id, r.channel, r.details["silence_id"])
        for r in h.records.rows
        if r.status == "silenced"
    ]
    assert sorted(silenced) == [("quiet", "mail", "s1"), ("quiet", "slack", "s1")]


def test_routes_match_on_the_rules_tags() -> None:
    h = Harness(
        plan(Route("audit", ("hook",), RouteMatch(tags=frozenset({"audit"})))),
        {"hook": FakeSender()},
        tags=FakeTags({("payments", 1): ("audit", "pci")}),
    )
    h.feed.append(anomaly("a1", rule_id="payments"), anomaly("a2", rule_id="cpu"))
    h.run_until(h.all_acked(2))
    assert h.senders["hook"].sent_ids() == ["a1"]


def test_a_digest_route_sends_one_message_for_its_window_and_records_each_as_digested() -> None:
    h = Harness(
        plan(Route("batch", ("hook",), digest_s=0.2), Route("now", ("slack",))),
        {"hook": FakeSender(fail_first=1), "slack": FakeSender()},
    )
    h.feed.append(*(anomaly(f"a{i}") for i in range(5)))

    async def scenario() -> None:
        await h.until(lambda: len(h.senders["slack"].sent) == 5)
        assert h.senders["hook"].sent == [] and h.feed.acked == []  # the digest is still open
        await h.until(h.all_acked(5))

    h.run(scenario)
    ((_, digest),) = h.senders["hook"].sent
    assert digest.digest is not None and digest.digest.count == 5
    assert sorted(h.records.of("hook")) == sorted(
        [(f"a{i}", 1, "failed") for i in range(5)] + [(f"a{i}", 2, "digested") for i in range(5)]
    )
    digest_ids = {r.details["digest_id"] for r in h.records.rows if r.channel == "hook"}
    assert len(digest_ids) == 1


def test_stopping_sends_open_digests_at_once() -> None:
    h = Harness(plan(Route("batch", ("hook",), digest_s=3600)), {"hook": FakeSender()})
    h.feed.append(anomaly("a1"), anomaly("a2"))
    h.run_until(lambda: h.notifier.in_flight == 2)  # then stopped, the digest still open
    assert sorted(h.senders["hook"].sent_ids()) == ["a1", "a2"]
    assert h.feed.pending == {} and len(h.feed.acked) == 2


def test_an_entry_that_is_not_an_anomaly_goes_to_the_dead_letters() -> None:
    h = Harness(plan(Route("r", ("slack",))), {"slack": FakeSender()})
    (bad,) = h.feed.append(None, raw=b"{not json")
    (no_id,) = h.feed.append({"rule_id": "x"})
    h.feed.append(anomaly("ok"))
    h.run_until(h.all_acked(3))
    assert [entry for entry, _ in h.feed.dead] == [bad, no_id]
    assert h.senders["slack"].sent_ids() == ["ok"]


def test_an_entry_delivered_too_often_goes_to_the_dead_letters() -> None:
    h = Harness(plan(Route("r", ("slack",))), {"slack": FakeSender()})
    (entry,) = h.feed.append(anomaly("a1"))
    h.feed.leave_pending(entry, deliveries=OPTIONS.max_deliveries)
    h.run_until(h.all_acked(1))
    assert h.feed.dead == [
        (entry, f"delivered {OPTIONS.max_deliveries + 1} times without being acknowledged")
    ]


def test_unfinished_deliveries_leave_their_entries_pending_at_stop() -> None:
    options = NotifierOptions(block_ms=10, claim_every_s=60, touch_every_s=60, grace_s=0.05)
    h = Harness(
        plan(Route("r", ("stuck",)), retry=RetryPolicy(timeout_s=60)),
        {"stuck": FakeSender(hang=True)},
        options=options,
    )
    (entry,) = h.feed.append(anomaly("a1"))
    h.run_until(lambda: h.senders["stuck"].attempts != {})
    assert h.feed.pending == {entry: 1} and h.feed.acked == []
    assert h.records.rows == []


def test_reading_pauses_at_the_in_flight_limit() -> None:
    options = NotifierOptions(
        block_ms=10, claim_every_s=60, touch_every_s=60, max_in_flight=3, grace_s=0.05
    )
    h = Harness(
        plan(Route("r", ("stuck",)), retry=RetryPolicy(timeout_s=60)),
        {"stuck": FakeSender(hang=True)},
        options=options,
    )
    h.feed.append(*(anomaly(f"a{i}") for i in range(10)))
    seen: list[int] = []

    def watched() -> bool:
        seen.append(h.notifier.in_flight)
        return len(seen) > 200

    h.run_until(watched)
    assert max(seen) == 3 and len(h.feed.unread) == 7


@pytest.mark.parametrize("extra", [{}, {"group": None}], ids=["plain", "null-group"])
def test_an_anomaly_without_a_group_is_routed(extra: dict[str, Any]) -> None:
    h = Harness(plan(Route("r", ("slack",))), {"slack": FakeSender()})
    document = {**anomaly("a1"), **extra}
    if not extra:
        del document["group"]
    h.feed.append(document)
    h.run_until(h.all_acked(1))
    assert h.senders["slack"].sent_ids() == ["a1"]
