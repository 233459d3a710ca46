"""Window arithmetic on event time: tumbling windows aligned to the UNIX epoch (UTC).

An event at epoch second `t` falls in the window `[s, s + w)` with `s = floor(t / w) * w`, for a
window length of `w` whole seconds. Window bounds are whole epoch seconds (ints).
"""

from __future__ import annotations

from datetime import UTC, datetime


def window_start(ts: float, width: int) -> int:
    return int(ts // width) * width


def to_datetime(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def epoch_number(epoch: float) -> int | float:
    """An epoch as it is written in an anomaly id: an int when whole, else the float."""
    return int(epoch) if float(epoch).is_integer() else epoch
