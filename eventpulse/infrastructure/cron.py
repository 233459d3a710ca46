"""Cron expressions (the `Cron` port of application/report_schedules.py) on croniter, in UTC.

Accepted forms:
- the standard 5 fields `minute hour day-of-month month day-of-week` (`0 6 * * *`), and
  croniter's aliases `@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`;
- 6 fields with **seconds first**, `second minute hour day-of-month month day-of-week`
  (`*/5 * * * * *`: every 5 seconds), as Quartz and Spring write them; croniter reads a 6th
  field as seconds at the *end* unless told otherwise, so this is `second_at_beginning=True`.

Refused: croniter's 7-field form with a year, hashed (`H`) and random (`R`) fields, and an
expression that never fires (`0 0 30 2 *`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

from croniter import (  # type: ignore[import-untyped]
    CroniterBadCronError,
    CroniterBadDateError,
    CroniterError,
    croniter,
)

from eventpulse.domain.errors import EventPulseError

_FIELDS: Final = (5, 6)
_ALIASES: Final = frozenset({"@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly"})
_TICK: Final = timedelta(microseconds=1)


class InvalidCron(EventPulseError):
    """A cron expression this product does not accept (the message says why)."""


class CronTimes:
    """The fire times of one expression (checked on construction)."""

    def __init__(self, expression: str) -> None:
        self.expression = expression.strip()
        self._seconds = _check(self.expression)

    def _iterator(self, start: datetime) -> croniter:
        return croniter(
            self.expression,
            start.astimezone(UTC),
            ret_type=datetime,
            second_at_beginning=self._seconds,
        )

    def next_after(self, moment: datetime) -> datetime:
        found: datetime = self._iterator(moment).get_next()
        return found.astimezone(UTC)

    def latest_at_or_before(self, moment: datetime) -> datetime:
        # croniter's previous time is strictly before its start: start just after `moment`.
        found: datetime = self._iterator(moment + _TICK).get_prev()
        return found.astimezone(UTC)


def cron_times(expression: str) -> CronTimes:
    """A `CronFactory`: `InvalidCron` for an expression that is not accepted."""
    return CronTimes(expression)


def _check(expression: str) -> bool:
    """Whether the expression has a seconds field; `InvalidCron` when it is not accepted."""
    fields = expression.split()
    if expression.lower() in _ALIASES:
        seconds = False
    elif len(fields) in _FIELDS:
        seconds = len(fields) == 6
    else:
        raise InvalidCron(
            f"expected 5 fields (minute hour day month weekday) or 6 with seconds first,"
            f" got {len(fields)}"
        )
    if any(part[:1].lower() in ("h", "r") for field in fields for part in field.split(",")):
        raise InvalidCron("hashed (H) and random (R) fields are not supported")
    try:
        croniter(
            expression,
            datetime(2000, 1, 1, tzinfo=UTC),
            ret_type=datetime,
            second_at_beginning=seconds,
        ).get_next()
    except CroniterBadDateError:
        raise InvalidCron("it never fires") from None
    except (CroniterBadCronError, CroniterError, ValueError, KeyError) as exc:
        raise InvalidCron(str(exc) or type(exc).__name__) from None
    return seconds
