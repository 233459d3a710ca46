"""The HTTP API over fakes: a real IngestEvents on a fake queue, fake readers, given probes."""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime

from starlette.exceptions import StarletteDeprecationWarning

from eventpulse.application.access import AccessControl
from eventpulse.application.backtest import RunBacktest
from eventpulse.application.ingest import IngestEvents, IngestLimits
from eventpulse.application.report_index import ReportIndex
from eventpulse.application.rules import ManageRules, SilentAnnouncer
from eventpulse.application.silences import ManageSilences
from eventpulse.application.stats import ReadStats
from eventpulse.infrastructure.settings import Settings
from eventpulse.interfaces.http.app import create_app
from eventpulse.interfaces.http.deps import ApiServices, HttpLimits, LiveAnomalies, Probe
from tests.unit.fakes import T0, FakeQueue, FakeReader
from tests.unit.feed_fakes import FakeFeed
from tests.unit.history_fakes import FakeHistory
from tests.unit.query_fakes import FakeAnomalyReader
from tests.unit.rule_fakes import FakeRuleRepository
from tests.unit.silence_fakes import FakeSilenceRepository

with warnings.catch_warnings():
    # Starlette 1.x asks for the `httpx2` package and warns at import when it falls back to
    # `httpx` (which pyproject installs); the fallback works, and warnings are errors here.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient as TestClient

SETTINGS = Settings(database_url="postgresql://unused", redis_url="redis://unused")
MAX_BODY_BYTES = 4096
MAX_BATCH_EVENTS = 8
MAX_EVENT_BYTES = 1024


async def healthy() -> None:
    return None


def _clock() -> datetime:
    return T0


@contextmanager
def serve(
    queue: FakeQueue | None = None,
    reader: FakeReader | None = None,
    probes: Mapping[str, Probe] | None = None,
    *,
    fast_ingest: bool = True,
    rules: ManageRules | None = None,
    history: FakeHistory | None = None,
    anomalies: FakeAnomalyReader | None = None,
    silences: FakeSilenceRepository | None = None,
    feed: FakeFeed | None = None,
    heartbeat_s: float = 30.0,
    access: AccessControl | None = None,
    client_host: str = "testclient",
    stats: ReadStats | None = None,
    reports: ReportIndex | None = None,
) -> Iterator[TestClient]:
    """The API over fakes; without `access`, key checks are off (tests/unit/test_access_http.py
    covers them)."""
    rules = rules or ManageRules(FakeRuleRepository(), SilentAnnouncer())
    live_feed = feed or FakeFeed()
    services = ApiServices(
        ingest=IngestEvents(queue or FakeQueue(), IngestLimits(MAX_EVENT_BYTES), clock=_clock),
        events=reader or FakeReader(),
        limits=HttpLimits(MAX_BODY_BYTES, MAX_BATCH_EVENTS),
        probes=dict(probes or {"redis": healthy, "postgres": healthy}),
        rules=rules,
        backtest=RunBacktest(history or FakeHistory(), rules, chunk_size=3),
        anomalies=anomalies or FakeAnomalyReader(),
        silences=ManageSilences(silences or FakeSilenceRepository(), clock=_clock),
        live=LiveAnomalies(live_feed, live_feed, heartbeat_s, 5.0),
        access=access or AccessControl.disabled(),
        stats=stats,
        reports=reports,
    )
    app = create_app(SETTINGS, services=services, fast_ingest=fast_ingest)
    with TestClient(app, client=(client_host, 50000)) as client:
        yield client
