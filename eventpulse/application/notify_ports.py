"""The ports the notifier needs: the anomaly feed's consumer side, the delivery records, the
silences, the rules' tags, and one sender per channel. Adapters live in `infrastructure`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Protocol

from eventpulse.application.ports import StreamEntry
from eventpulse.domain.errors import EventPulseError
from eventpulse.domain.notifications import Notification
from eventpulse.domain.silences import Silence

FINAL_STATUSES: Final = frozenset({"sent", "dead", "silenced", "digested", "duplicate"})
"""A channel with one of these recorded for an anomaly is done with it: never sent again."""


@dataclass(frozen=True, slots=True)
class Attempt:
    """One row of `notification_deliveries`. `status`: sent, failed, dead, silenced,
    digested (part of a digest that was sent) or duplicate (a success when one was already
    recorded: the channel got the anomaly twice)."""

    anomaly_id: str
    channel: str
    route: str
    attempt: int
    status: str
    error: str | None = None
    latency_ms: float | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Prior:
    """What is already recorded for one anomaly and channel."""

    final: str | None
    attempts: int


class DeliveryLog(Protocol):
    """Delivery records (PostgreSQL `notification_deliveries`). `StoreUnavailable` when the
    store cannot be reached; nothing was recorded then."""

    async def prior(self, anomaly_ids: Sequence[str]) -> dict[tuple[str, str], Prior]:
        """Keyed by (anomaly_id, channel), for the pairs that have any record."""
        ...

    async def record(self, attempts: Sequence[Attempt]) -> None: ...

    async def record_sent(self, attempt: Attempt) -> bool:
        """Record a success; False when one was recorded before (by a replica, or before a
        crash): the attempt is then recorded as `duplicate`."""
        ...


class FeedConsumer(Protocol):
    """One consumer of the `notifiers` group on the anomaly feed. Entries carry the anomaly
    document's JSON. `StreamUnavailable` on connection trouble."""

    async def ensure_group(self) -> None: ...

    async def read_own_pending(self, after: str, count: int) -> list[StreamEntry]:
        """Entries this consumer was delivered and did not acknowledge, with ids > `after`
        ("0-0" for all), re-delivered to it."""
        ...

    async def read_new(self, count: int, block_ms: int) -> list[StreamEntry]: ...

    async def claim_abandoned(self, count: int) -> list[StreamEntry]:
        """Entries idle on some consumer for longer than the claim threshold, now this one's."""
        ...

    async def ack(self, entry_ids: Sequence[str]) -> None: ...

    async def touch(self, entry_ids: Sequence[str]) -> None:
        """Reset the idle time of entries still being worked on, so no one claims them."""
        ...

    async def dead_letter(
        self, entry_id: str, data: bytes | None, error: str, deliveries: int
    ) -> None: ...


class SilenceSource(Protocol):
    async def active(self) -> Sequence[Silence]:
        """Silences not deleted and not yet ended (possibly a few seconds stale)."""
        ...


class RuleTagSource(Protocol):
    async def tags(
        self, versions: set[tuple[str, int]]
    ) -> Mapping[tuple[str, int], tuple[str, ...]]:
        """The tags of each (rule_id, version) given; a version not found has none."""
        ...


class Sender(Protocol):
    """One channel's way of sending. Raises `DeliveryFailed` (or any exception: it counts as
    a transient failure) when the channel did not take the notification."""

    async def send(self, notification: Notification) -> None: ...

    async def close(self) -> None: ...


class DeliveryFailed(EventPulseError):
    """A channel refused or could not take a notification. `permanent`: retrying cannot help
    (e.g. HTTP 404, SMTP 550), so the delivery is dead at once."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def first_silence(
    silences: Sequence[Silence], anomaly: Mapping[str, Any], at: datetime
) -> Silence | None:
    group = anomaly.get("group") or {}
    for silence in silences:
        if silence.matches(anomaly["rule_id"], anomaly["severity"], group, at):
            return silence
    return None
