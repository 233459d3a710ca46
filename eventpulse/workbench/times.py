"""Instants as notebooks write them: datetimes, pandas Timestamps or ISO 8601 text."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TypeAlias

from eventpulse.domain.rules import parse_duration

Instant: TypeAlias = datetime | date | str
Duration: TypeAlias = timedelta | str


def instant(value: Instant, name: str = "time") -> datetime:
    """An aware datetime in UTC; naive values (and dates) are taken as UTC, like NAB's.

    >>> instant("2014-02-07 14:55")
    datetime.datetime(2014, 2, 7, 14, 55, tzinfo=datetime.timezone.utc)
    """
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{name}: expected an ISO 8601 time, got {value!r}") from None
    elif isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    else:
        raise TypeError(f"{name}: expected a datetime or ISO 8601 text, got {value!r}")
    to_pydatetime = getattr(moment, "to_pydatetime", None)  # a pandas Timestamp
    if callable(to_pydatetime):
        moment = to_pydatetime()
    if moment.tzinfo is None or moment.utcoffset() is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def duration(value: Duration) -> timedelta:
    """A timedelta, or a rule-language duration such as `30s`, `5m`, `1h`, `1d`."""
    if isinstance(value, timedelta):
        return value
    return timedelta(seconds=parse_duration(value.strip(), allow_zero=True))
