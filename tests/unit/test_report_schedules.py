"""The scheduler's decisions over a fake cron and a hand-moved clock: due runs, no overlap,
missed fire times not replayed, one catch-up after a restart; and the croniter adapter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from eventpulse.application.report_schedules import Schedule, Timetable
from eventpulse.infrastructure.cron import InvalidCron, cron_times

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class EverySeconds:
    """A fake cron: `every:N` fires at each multiple of N seconds since the epoch."""

    def __init__(self, expression: str) -> None:
        self.step = int(expression.removeprefix("every:"))

    def latest_at_or_before(self, moment: datetime) -> datetime:
        elapsed = int((moment - EPOCH).total_seconds())
        return EPOCH + timedelta(seconds=elapsed - elapsed % self.step)

    def next_after(self, moment: datetime) -> datetime:
        return self.latest_at_or_before(moment) + timedelta(seconds=self.step)


def every(step: int, name: str = "s", **fields: object) -> Schedule:
    return Schedule(name=name, cron=f"every:{step}", period=timedelta(hours=1), **fields)  # type: ignore[arg-type]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_nothing_is_due_before_the_first_fire_time_after_start() -> None:
    table = Timetable([every(10)], EverySeconds, at(0.5))
    assert table.next_wakeup() == at(10)
    assert table.tick(at(9.9)).due == []

    (due,) = table.tick(at(10.05)).due
    assert due.fire_time == at(10) and due.missed == 0 and not due.catch_up
    assert due.request.since == at(10) - timedelta(hours=1) and due.request.until == at(10)
    assert due.request.schedule == "s"
    assert table.tick(at(10.2)).due == []  # once per fire time
    assert table.next_wakeup() == at(20)


def test_a_schedule_still_running_skips_its_fire_time_instead_of_overlapping() -> None:
    table = Timetable([every(10, "a"), every(10, "b")], EverySeconds, at(0))
    assert {d.schedule.name for d in table.tick(at(10)).due} == {"a", "b"}

    decisions = table.tick(at(20), running={"a"})
    assert [d.schedule.name for d in decisions.due] == ["b"]
    (skip,) = decisions.skipped
    assert skip.schedule.name == "a" and skip.fire_time == at(20)
    assert "still running" in skip.reason
    # Not queued: once `a` is free, it runs at its next fire time, not the skipped one.
    assert table.tick(at(21)).due == []
    (due,) = [d for d in table.tick(at(30)).due if d.schedule.name == "a"]
    assert due.fire_time == at(30)


def test_missed_fire_times_are_not_replayed_only_the_latest_runs() -> None:
    table = Timetable([every(10)], EverySeconds, at(0))
    (due,) = table.tick(at(75)).due  # the loop was blocked: 10, 20, ..., 70 passed
    assert due.fire_time == at(70) and due.missed == 6
    assert table.tick(at(76)).due == []
    assert table.next_wakeup() == at(80)


def test_after_a_restart_the_latest_missed_fire_time_runs_once_as_a_catch_up() -> None:
    schedule = every(3600, "hourly")
    last = {"hourly": at(-7200)}  # ran for two hours ago, then the scheduler was down
    table = Timetable([schedule], EverySeconds, at(5), last)

    (due,) = table.tick(at(5)).due
    assert due.catch_up and due.fire_time == at(0)
    assert table.tick(at(6)).due == []
    assert table.next_wakeup() == at(3600)


def test_no_catch_up_for_a_first_start_a_fire_time_already_run_or_when_turned_off() -> None:
    first = Timetable([every(3600, "h")], EverySeconds, at(5), {})
    done = Timetable([every(3600, "h")], EverySeconds, at(5), {"h": at(0)})
    off = Timetable([every(3600, "h", catch_up=False)], EverySeconds, at(5), {"h": at(-3600)})
    for table in (first, done, off):
        assert table.tick(at(5)).due == []
        assert table.next_wakeup() == at(3600)


def test_a_catch_up_due_with_a_new_fire_time_in_one_tick_runs_the_latest_only() -> None:
    table = Timetable([every(10)], EverySeconds, at(5), {"s": at(-20)})
    (due,) = table.tick(at(12)).due
    assert due.fire_time == at(10) and not due.catch_up and due.missed == 1


def test_a_catch_up_of_a_schedule_still_running_is_skipped() -> None:
    table = Timetable([every(3600, "h")], EverySeconds, at(5), {"h": at(-3600)})
    decisions = table.tick(at(5), running={"h"})
    assert decisions.due == [] and [s.fire_time for s in decisions.skipped] == [at(0)]


def test_disabled_schedules_never_fire() -> None:
    table = Timetable([every(10, enabled=False)], EverySeconds, at(0))
    assert table.schedules == [] and table.next_wakeup() is None
    assert table.tick(at(100)).due == []


# --- the croniter adapter ---


def test_five_fields_fire_on_the_minute_in_utc() -> None:
    daily = cron_times("0 6 * * *")
    six = datetime(2024, 5, 1, 6, 0, tzinfo=UTC)
    assert daily.next_after(six - timedelta(seconds=1)) == six
    assert daily.next_after(six) == six + timedelta(days=1)  # strictly after
    assert daily.latest_at_or_before(six) == six  # at or before
    assert daily.latest_at_or_before(six - timedelta(microseconds=1)) == six - timedelta(days=1)
    assert cron_times("0 6 * * mon").next_after(six).weekday() == 0


def test_six_fields_have_the_seconds_first() -> None:
    every_5s = cron_times("*/5 * * * * *")
    moment = datetime(2024, 5, 1, 6, 0, 1, 500_000, tzinfo=UTC)
    assert every_5s.next_after(moment) == datetime(2024, 5, 1, 6, 0, 5, tzinfo=UTC)
    assert every_5s.latest_at_or_before(moment) == datetime(2024, 5, 1, 6, 0, 0, tzinfo=UTC)
    at_30s = cron_times("30 0 6 * * *")  # 06:00:30 every day
    assert at_30s.next_after(moment) == datetime(2024, 5, 1, 6, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("* * *", "expected 5 fields"),
        ("0 6 * * * 2024 *", "got 7"),
        ("61 * * * *", "out of range"),
        ("H 6 * * *", "hashed (H) and random (R)"),
        ("0 0 30 2 *", "never fires"),
        ("*/0 * * * *", "step"),
    ],
)
def test_expressions_that_are_not_accepted_say_why(expression: str, reason: str) -> None:
    with pytest.raises(InvalidCron, match=reason.replace("(", r"\(").replace(")", r"\)")):
        cron_times(expression)


@pytest.mark.parametrize(
    "period", [timedelta(0), timedelta(seconds=-1), timedelta(weeks=20_000_000)]
)
def test_a_schedule_refuses_a_period_no_fire_time_can_cover(period: timedelta) -> None:
    with pytest.raises(ValueError, match="period"):
        Schedule(name="s", cron="every:10", period=period)
