"""Report schedules and the scheduler's decisions, free of processes, files and clocks.

A `Schedule` fires on a cron expression (UTC); the report of a fire time `t` covers
`[t - period, t)`. `Timetable` says, on each tick, which schedules are due:

- **No overlap.** A schedule whose previous run is still running when it fires again is not
  started: that fire time is skipped (reported as a `Skip`, counted and logged by the caller),
  never queued. Another scheduler process holding the schedule's lock is the caller's check.
- **Missed fire times are not replayed.** When several fire times of a schedule passed since
  the last tick (the process was stopped, the machine slept, a tick came late), only the latest
  one runs; the earlier ones are reported as missed. At start-up, a schedule that has run before
  (`last_fired`, read from the index of runs) and whose latest fire time at or before now is
  later than its last recorded run gets exactly one catch-up run, for that latest fire time, so
  a restart across 06:00 still produces the 06:00 report. A schedule that never ran (a first
  start) gets no catch-up, and `catch_up: false` turns it off.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final, Protocol

from eventpulse.application.reports import DEFAULT_TITLE, ReportRequest
from eventpulse.domain.rules.durations import MAX_SECONDS

MAX_COUNTED_MISSES: Final = 10_000
"""Missed fire times are counted up to this many (a seconds schedule after a long stop)."""


class Cron(Protocol):
    """One cron expression's fire times (timezone-aware, UTC)."""

    def next_after(self, moment: datetime) -> datetime:
        """The first fire time strictly after `moment`."""
        ...

    def latest_at_or_before(self, moment: datetime) -> datetime:
        """The last fire time at or before `moment`."""
        ...


CronFactory = Callable[[str], Cron]


@dataclass(frozen=True, slots=True)
class Schedule:
    """One configured schedule. `notebook` overrides the report notebook for this schedule
    (None: the configured one). The period is more than zero and at most the durations' bound
    (domain/rules/durations.py), so every fire time's `[t - period, t)` is in range."""

    name: str
    cron: str
    period: timedelta
    rule_ids: tuple[str, ...] = ()
    title: str = DEFAULT_TITLE
    enabled: bool = True
    notebook: Path | None = None
    catch_up: bool = True

    def __post_init__(self) -> None:
        if not timedelta(0) < self.period <= timedelta(seconds=MAX_SECONDS):
            raise ValueError(
                f"schedule {self.name}: the period must be more than 0 and at most "
                f"{MAX_SECONDS // 86_400} days, got {self.period}"
            )

    def request(self, fire_time: datetime) -> ReportRequest:
        return ReportRequest(
            since=fire_time - self.period,
            until=fire_time,
            rule_ids=self.rule_ids,
            title=self.title,
            schedule=self.name,
        )


@dataclass(frozen=True, slots=True)
class Due:
    """A run to start now: the schedule's report for `fire_time`. `missed` earlier fire times
    since the previous decision were dropped; `catch_up` marks the start-up catch-up."""

    schedule: Schedule
    fire_time: datetime
    missed: int = 0
    catch_up: bool = False

    @property
    def request(self) -> ReportRequest:
        return self.schedule.request(self.fire_time)


@dataclass(frozen=True, slots=True)
class Skip:
    """A fire time not run because the schedule's previous run is still running."""

    schedule: Schedule
    fire_time: datetime
    missed: int = 0
    reason: str = "the previous run is still running"


@dataclass(frozen=True, slots=True)
class Decisions:
    due: list[Due] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)


@dataclass(slots=True)
class _State:
    schedule: Schedule
    cron: Cron
    next_fire: datetime
    catch_up: datetime | None = None


class Timetable:
    """The enabled schedules' next fire times; `tick(now, running)` decides what runs."""

    def __init__(
        self,
        schedules: Iterable[Schedule],
        cron: CronFactory,
        now: datetime,
        last_fired: Mapping[str, datetime] | None = None,
    ) -> None:
        last_fired = last_fired or {}
        self._states: list[_State] = []
        for schedule in schedules:
            if not schedule.enabled:
                continue
            times = cron(schedule.cron)
            state = _State(schedule, times, times.next_after(now))
            previous = last_fired.get(schedule.name)
            if schedule.catch_up and previous is not None:
                latest = times.latest_at_or_before(now)
                if latest > previous:
                    state.catch_up = latest
            self._states.append(state)

    @property
    def schedules(self) -> list[Schedule]:
        return [state.schedule for state in self._states]

    def next_wakeup(self) -> datetime | None:
        """The earliest time a tick can have something to do (None: no enabled schedule)."""
        moments = [s.next_fire if s.catch_up is None else s.catch_up for s in self._states]
        return min(moments, default=None)

    def tick(self, now: datetime, running: Collection[str] = ()) -> Decisions:
        """What to do at `now`, given the schedules with a run in progress."""
        decisions = Decisions()
        for state in self._states:
            fire, missed, catch_up = self._fire_time(state, now)
            if fire is None:
                continue
            if state.schedule.name in running:
                decisions.skipped.append(Skip(state.schedule, fire, missed))
            else:
                decisions.due.append(Due(state.schedule, fire, missed, catch_up))
        return decisions

    @staticmethod
    def _fire_time(state: _State, now: datetime) -> tuple[datetime | None, int, bool]:
        if state.catch_up is not None:
            fire, state.catch_up = state.catch_up, None
            if now >= state.next_fire:  # the catch-up and a new fire time in one tick
                latest = state.cron.latest_at_or_before(now)
                missed = _count_between(state.cron, fire, latest) + 1
                state.next_fire = state.cron.next_after(now)
                return latest, missed, False
            return fire, 0, True
        if now < state.next_fire:
            return None, 0, False
        latest = state.cron.latest_at_or_before(now)
        missed = _count_between(state.cron, state.next_fire, latest)
        if state.next_fire < latest:
            missed += 1  # next_fire itself was passed over too
        state.next_fire = state.cron.next_after(now)
        return latest, missed, False


def _count_between(cron: Cron, start: datetime, end: datetime) -> int:
    """Fire times strictly between `start` and `end` (counted up to MAX_COUNTED_MISSES)."""
    count, moment = 0, cron.next_after(start)
    while moment < end and count < MAX_COUNTED_MISSES:
        count += 1
        moment = cron.next_after(moment)
    return count
