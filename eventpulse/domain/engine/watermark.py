"""Event-time progress: the watermark, and which events it admits.

W = (the greatest ts among events fed so far that are not future-skewed) - lateness; before any
such event, W = -infinity. Every fed event counts, whether or not it passes the rule's filter:
W measures how far the stream has got, so a rule's windows close even while its own events
are silent (which `absence` depends on).

An event is future-skewed when its ts is more than `FUTURE_SKEW_LIMIT` after its own
`received_at`: it is evaluated like any other, but it does not move W, so one producer with a
clock far ahead cannot close everyone's windows. An event with ts < W when it is fed is late
beyond the allowed lateness and is dropped.
"""

from __future__ import annotations

from typing import Final

FUTURE_SKEW_LIMIT: Final = 300
"""Seconds an event's ts may lie ahead of its received_at and still move the watermark."""


def watermark(max_ts: float | None, lateness: int) -> float:
    return float("-inf") if max_ts is None else max_ts - lateness
