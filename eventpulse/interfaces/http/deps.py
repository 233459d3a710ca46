"""Request dependencies, taken from the composition root's objects on `app.state`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Protocol

from fastapi import Depends, Request

from eventpulse.application.access import AccessControl
from eventpulse.application.backtest import RunBacktest
from eventpulse.application.ingest import IngestEvents
from eventpulse.application.live_anomalies import FeedHistory, LiveFeed
from eventpulse.application.ports import AnomalyReader, EventReader
from eventpulse.application.report_index import ReportIndex
from eventpulse.application.rules import ManageRules
from eventpulse.application.silences import ManageSilences
from eventpulse.application.stats import ReadStats


class Probe(Protocol):
    async def __call__(self) -> None: ...


@dataclass(frozen=True, slots=True)
class HttpLimits:
    max_body_bytes: int
    max_batch_events: int


@dataclass(frozen=True, slots=True)
class LiveAnomalies:
    """What `WS /ws/anomalies` needs: the live feed, the feed's history, and its timings."""

    feed: LiveFeed
    history: FeedHistory
    heartbeat_s: float
    send_timeout_s: float


@dataclass(frozen=True, slots=True)
class ApiServices:
    """Everything the routers need; built by `app.create_app`'s lifespan or given by tests."""

    ingest: IngestEvents
    events: EventReader
    limits: HttpLimits
    probes: dict[str, Probe]
    rules: ManageRules
    backtest: RunBacktest
    anomalies: AnomalyReader
    silences: ManageSilences
    live: LiveAnomalies
    access: AccessControl  # API keys and rate limits (interfaces/http/access.py)
    stats: ReadStats | None = None  # `GET /stats`; None answers 503
    reports: ReportIndex | None = None  # `GET /reports`; None answers 503


async def _services(request: Request) -> ApiServices:
    # `async`: FastAPI runs a plain `def` dependency in a thread pool, on every request.
    services: ApiServices = request.app.state.services
    return services


Services = Annotated[ApiServices, Depends(_services)]
