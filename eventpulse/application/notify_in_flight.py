"""The anomalies a notifier holds: the feed entries that carried each one (the feed may repeat
an anomaly), its channels not yet final, and the entries ready to be acknowledged."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from eventpulse.application.ports import StreamEntry


@dataclass(slots=True)
class Job:
    anomaly: Mapping[str, Any]
    entry_ids: list[str]
    deliveries: int
    """How many times the feed delivered its entry (> 1: read again after a crash or claim)."""
    pending: set[str] = field(default_factory=set)
    routed: bool = False

    @property
    def anomaly_id(self) -> str:
        return str(self.anomaly["anomaly_id"])


class InFlight:
    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._by_entry: dict[str, Job] = {}
        self._acks: list[str] = []
        self.room = asyncio.Event()
        """Set whenever an anomaly is done: reading may go on."""

    def __len__(self) -> int:
        return len(self._jobs)

    def holds(self, entry_id: str) -> bool:
        return entry_id in self._by_entry

    def held_entries(self) -> list[str]:
        return list(self._by_entry)

    def take(self, anomaly: Mapping[str, Any], entry: StreamEntry) -> Job | None:
        """The new job for this anomaly, or None when one is in hand (the entry joins it and
        is acknowledged with it)."""
        job = self._jobs.get(str(anomaly["anomaly_id"]))
        if job is not None:
            job.entry_ids.append(entry.entry_id)
            job.deliveries = max(job.deliveries, entry.deliveries)
            self._by_entry[entry.entry_id] = job
            return None
        job = Job(anomaly, [entry.entry_id], entry.deliveries)
        self._jobs[job.anomaly_id] = job
        self._by_entry[entry.entry_id] = job
        return job

    def finish(self, job: Job, channel: str) -> None:
        """`channel` reached a final state for `job`; the job is done once all have."""
        job.pending.discard(channel)
        if job.routed and not job.pending:
            self.done(job)

    def done(self, job: Job) -> None:
        if self._jobs.get(job.anomaly_id) is not job:
            return
        del self._jobs[job.anomaly_id]
        for entry_id in job.entry_ids:
            self._by_entry.pop(entry_id, None)
        self._acks.extend(job.entry_ids)
        self.room.set()

    def discard_entry(self, entry_id: str) -> None:
        """An entry with nothing to deliver (a dead letter): acknowledge it."""
        self._acks.append(entry_id)

    def take_acks(self) -> list[str]:
        acks, self._acks = self._acks, []
        return acks

    def return_acks(self, entry_ids: list[str]) -> None:
        self._acks[:0] = entry_ids


def decode_anomaly(entry: StreamEntry) -> tuple[dict[str, Any] | None, str | None]:
    """The anomaly document of a feed entry, or why it is not one."""
    if entry.data is None:
        return None, "the entry was deleted from the feed"
    try:
        anomaly = orjson.loads(entry.data)
    except orjson.JSONDecodeError as exc:
        return None, f"invalid JSON: {exc}"
    if not isinstance(anomaly, dict):
        return None, "not an anomaly document"
    for name in ("anomaly_id", "rule_id", "severity"):
        if not isinstance(anomaly.get(name), str) or not anomaly[name]:
            return None, f"not an anomaly document: no {name}"
    if not isinstance(anomaly.get("rule_version"), int):
        return None, "not an anomaly document: no rule_version"
    if not isinstance(anomaly.get("group") or {}, dict):
        return None, "not an anomaly document: group is not an object"
    return anomaly, None
