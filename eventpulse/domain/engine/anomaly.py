"""The anomaly a rule emits (DESIGN.md §4, less `created_at`, which the store adds), and its id.

The id is the first 32 hex digits of the SHA-256 of the canonical JSON (sorted keys, compact
separators, ASCII) of `[rule_id, version, group, window_start, window_end]`, with the event id
appended for `match` and `new_value`. Window bounds are epoch seconds, written as ints when
whole. The same rule version over the same events therefore always yields the same ids.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Anomaly:
    anomaly_id: str
    rule_id: str
    rule_version: int
    severity: str
    group: dict[str, Any]
    window_start: datetime
    window_end: datetime
    ts: datetime
    value: float | None
    message: str | None
    """The rule's message template as written (or None); rendering is a later layer's job."""
    details: dict[str, Any]


def anomaly_id(
    rule_id: str,
    version: int,
    group: dict[str, Any],
    window: tuple[int | float, int | float],
    event_id: str | None = None,
) -> str:
    parts: list[Any] = [rule_id, version, group, window[0], window[1]]
    if event_id is not None:
        parts.append(event_id)
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()[:32]
