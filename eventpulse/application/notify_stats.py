"""The notifier's counters, shaped for metrics: entries by fate, deliveries by channel and
outcome (sent, failed, dead, silenced, digested, duplicate, skipped).

`meter` is told every delivery outcome as it is counted (application/meters.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eventpulse.application.meters import NO_METER, DeliveryMeter


@dataclass(slots=True)
class NotifierStats:
    entries_read: int = 0
    redelivered: int = 0
    feed_duplicates: int = 0
    """Entries repeating an anomaly this notifier was already handling (acked together)."""
    dead_lettered: int = 0
    acknowledged: int = 0
    outcomes: dict[str, dict[str, int]] = field(default_factory=dict)
    meter: DeliveryMeter = field(default=NO_METER, repr=False, compare=False)

    def count(self, channel: str, outcome: str, n: int = 1) -> None:
        by_outcome = self.outcomes.setdefault(channel, {})
        by_outcome[outcome] = by_outcome.get(outcome, 0) + n
        self.meter.delivery(channel, outcome, n)

    def of(self, channel: str, outcome: str) -> int:
        return self.outcomes.get(channel, {}).get(outcome, 0)

    def snapshot(self) -> dict[str, Any]:
        return {
            "entries_read": self.entries_read,
            "redelivered": self.redelivered,
            "feed_duplicates": self.feed_duplicates,
            "dead_lettered": self.dead_lettered,
            "acknowledged": self.acknowledged,
            "channels": {channel: dict(counts) for channel, counts in self.outcomes.items()},
        }
