"""Durations as rule documents write them: a positive whole number and one unit, e.g. `5m`.

Units: `s` seconds, `m` minutes, `h` hours, `d` days, `w` weeks. No spaces, signs, fractions or
compound forms (`1h30m`): write `90m`. Months and years are refused because their length varies,
and event-time windows must have one fixed length (invariant 5).
"""

from __future__ import annotations

import re
from typing import Final

UNIT_SECONDS: Final[dict[str, int]] = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}

MAX_SECONDS: Final = 3_650 * 86_400
"""Ten years: longer durations are almost surely typos, and keep window arithmetic in range."""

_DURATION = re.compile(r"([0-9]{1,12})([smhdw])")


def parse_duration(text: object, *, allow_zero: bool = False) -> int:
    """Seconds of a duration string; ValueError (readable) for anything else.

    `allow_zero` admits `0s`/`0m`/..., for the one setting where zero means "none" (lateness).
    """
    if not isinstance(text, str):
        raise ValueError(f"expected a duration string such as '5m', got {type(text).__name__}")
    found = _DURATION.fullmatch(text)
    if found is None:
        raise ValueError(
            f"invalid duration {text!r}: expected a whole number and a unit s, m, h, d or w "
            "(e.g. '30s', '5m', '1h')"
        )
    seconds = int(found[1]) * UNIT_SECONDS[found[2]]
    if seconds == 0 and not allow_zero:
        raise ValueError(f"invalid duration {text!r}: must be greater than zero")
    if seconds > MAX_SECONDS:
        raise ValueError(f"invalid duration {text!r}: at most {format_duration(MAX_SECONDS)}")
    return seconds


def format_duration(seconds: int) -> str:
    """The duration string for `seconds`, in the largest unit that divides it exactly."""
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0:
        raise ValueError(f"expected a whole number of seconds >= 0, got {seconds!r}")
    for unit, size in UNIT_SECONDS.items():
        if seconds % size == 0 and seconds:
            return f"{seconds // size}{unit}"
    return "0s"
