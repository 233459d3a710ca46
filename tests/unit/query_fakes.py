"""In-memory readers for the query side: the filters and keyset order of the PostgreSQL ones."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from eventpulse.application.ports import AnomalyQuery, EventQuery, StoredAnomaly
from eventpulse.domain.engine import Anomaly
from eventpulse.domain.events import Event

ANOMALY_TS = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def matching_events(events: Iterable[Event], query: EventQuery) -> list[Event]:
    """What `PostgresEventReader.list` returns for `query` over these rows."""
    rows = sorted(events, key=lambda e: (e.ts, e.event_id))
    found = [
        e
        for e in rows
        if query.event_type in (None, e.event_type)
        and query.source in (None, e.source)
        and _in_range(e.ts, query.since, query.until)
        and (query.after is None or (e.ts, e.event_id) > query.after)
    ]
    return found[: query.limit]


class FakeAnomalyReader:
    """The API's AnomalyReader over a list of stored anomalies; records the queries it got."""

    def __init__(self, *stored: StoredAnomaly) -> None:
        self.stored = list(stored)
        self.queries: list[AnomalyQuery] = []

    async def get(self, anomaly_id: str) -> StoredAnomaly | None:
        return next((s for s in self.stored if s.anomaly.anomaly_id == anomaly_id), None)

    async def list(self, query: AnomalyQuery) -> list[StoredAnomaly]:
        self.queries.append(query)
        rows = sorted(self.stored, key=lambda s: (s.anomaly.ts, s.anomaly.anomaly_id))
        found = [
            s
            for s in rows
            if query.rule_id in (None, s.anomaly.rule_id)
            and query.severity in (None, s.anomaly.severity)
            and _in_range(s.anomaly.ts, query.since, query.until)
            and (query.after is None or (s.anomaly.ts, s.anomaly.anomaly_id) > query.after)
        ]
        return found[: query.limit]


def stored_anomaly(**overrides: Any) -> StoredAnomaly:
    values: dict[str, Any] = {
        "anomaly_id": "a" * 32,
        "rule_id": "checkout",
        "rule_version": 1,
        "severity": "warning",
        "group": {"source": "web"},
        "window_start": ANOMALY_TS,
        "window_end": ANOMALY_TS,
        "ts": ANOMALY_TS,
        "value": 1.0,
        "message": None,
        "details": {},
    }
    created_at = overrides.pop("created_at", datetime(2024, 5, 1, 13, 0, tzinfo=UTC))
    values.update(overrides)
    return StoredAnomaly(Anomaly(**values), created_at)


def _in_range(ts: datetime, since: datetime | None, until: datetime | None) -> bool:
    return (since is None or ts >= since) and (until is None or ts < until)
