"""`GET /api/v1/stats`: counts over a recent window and where the pipeline stands now.

`window` is a duration (`30s`, `5m`, `1h`, `1d`; at most 30 days), `by` groups the events by
`event_type` (default) or `source`. What each number means: application/stats.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Query
from pydantic import BaseModel
from starlette.responses import Response

from eventpulse.application.stats import EventField, GroupState, Stats, StreamState
from eventpulse.domain.errors import FieldError, InvalidInput, StoreUnavailable
from eventpulse.domain.rules.durations import parse_duration
from eventpulse.interfaces.http.access import READ
from eventpulse.interfaces.http.deps import Services
from eventpulse.interfaces.http.errors import json_response
from eventpulse.interfaces.http.schemas import ErrorOut

router = APIRouter(tags=["health"])

MAX_WINDOW_S: Final = 30 * 86_400


class WindowOut(BaseModel):
    duration: str
    seconds: int
    since: datetime
    until: datetime


class EventsOut(BaseModel):
    by: EventField
    counts: dict[str, int]
    total: int
    rate_per_s: float


class GroupOut(BaseModel):
    consumers: int
    pending: int
    lag: int | None
    oldest_age_s: float


class StreamOut(BaseModel):
    length: int
    dead_letters: int
    groups: dict[str, GroupOut]


class AnomaliesOut(BaseModel):
    total: int
    by_rule: dict[str, dict[str, int]]
    by_severity: dict[str, int]


class NotificationsOut(BaseModel):
    total: int
    by_channel: dict[str, dict[str, int]]


class WorkersOut(BaseModel):
    live: int
    revisions: dict[str, int]


class EvaluationOut(BaseModel):
    cursor: list[int]
    lag_events: int
    lag_capped: bool


class StatsOut(BaseModel):
    window: WindowOut
    events: EventsOut
    ingest_lag_s: float
    streams: dict[str, StreamOut]
    anomalies: AnomaliesOut
    notifications: NotificationsOut
    workers: WorkersOut
    evaluation: EvaluationOut


@router.get(
    "/stats",
    response_model=StatsOut,
    responses={code: {"model": ErrorOut} for code in (422, 503)},
    summary="Counts over a recent window, stream and worker state",
    dependencies=[READ],
)
async def stats(
    services: Services,
    window: Annotated[str, Query(description="Duration: 30s, 5m, 1h, 1d (at most 30d)")] = "1h",
    by: Annotated[EventField, Query(description="Group events by this field")] = "event_type",
) -> Response:
    if services.stats is None:
        raise StoreUnavailable("stats are not available in this API")
    read = await services.stats.read(_window_seconds(window), by)
    return json_response(stats_document(read, window), 200)


def _window_seconds(text: str) -> int:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise InvalidInput([FieldError("window", str(exc))], "invalid window") from None
    if seconds > MAX_WINDOW_S:
        raise InvalidInput([FieldError("window", "at most 30d")], "invalid window")
    return seconds


def stats_document(stats: Stats, window: str) -> dict[str, Any]:
    stored, pipeline = stats.stored, stats.pipeline
    by_rule: dict[str, dict[str, int]] = {}
    by_severity: dict[str, int] = {}
    for (rule_id, severity), n in sorted(stored.anomalies.items()):
        by_rule.setdefault(rule_id, {})[severity] = n
        by_severity[severity] = by_severity.get(severity, 0) + n
    by_channel: dict[str, dict[str, int]] = {}
    for (channel, status), n in sorted(stored.deliveries.items()):
        by_channel.setdefault(channel, {})[status] = n
    return {
        "window": {
            "duration": window,
            "seconds": stats.window_s,
            "since": stats.since,
            "until": stats.until,
        },
        "events": {
            "by": stats.by,
            "counts": dict(sorted(stored.events.items())),
            "total": stats.events_total,
            "rate_per_s": stats.ingest_rate,
        },
        "ingest_lag_s": pipeline.ingest_lag_s,
        "streams": {"events": _stream(pipeline.events), "anomalies": _stream(pipeline.anomalies)},
        "anomalies": {
            "total": sum(stored.anomalies.values()),
            "by_rule": by_rule,
            "by_severity": by_severity,
        },
        "notifications": {"total": sum(stored.deliveries.values()), "by_channel": by_channel},
        "workers": {"live": len(pipeline.workers), "revisions": pipeline.workers},
        "evaluation": {
            "cursor": list(stored.evaluation_cursor),
            "lag_events": stored.evaluation_lag,
            "lag_capped": stats.evaluation_lag_capped,
        },
    }


def _stream(state: StreamState) -> dict[str, Any]:
    return {
        "length": state.length,
        "dead_letters": state.dead_letters,
        "groups": {name: _group(group) for name, group in state.groups.items()},
    }


def _group(group: GroupState) -> dict[str, Any]:
    return {
        "consumers": group.consumers,
        "pending": group.pending,
        "lag": group.lag,
        "oldest_age_s": group.oldest_age_s,
    }
