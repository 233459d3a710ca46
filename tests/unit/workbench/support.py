"""Backtest results made by hand, for the workbench's pure parts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from eventpulse.application import backtest
from eventpulse.domain.engine import Anomaly
from eventpulse.workbench.results import BacktestResult

DAY0 = datetime(2024, 1, 1, tzinfo=UTC)


def at(hours: float) -> datetime:
    return DAY0 + timedelta(hours=hours)


def anomaly(
    start_h: float,
    end_h: float | None = None,
    *,
    source: str | None = "a",
    rule_id: str = "r",
    version: int = 1,
    value: float | None = 1.0,
    severity: str = "warning",
) -> Anomaly:
    """An anomaly over [start, end] hours after DAY0 (`ts` = its end), grouped by source."""
    end_h = start_h if end_h is None else end_h
    group: dict[str, Any] = {} if source is None else {"source": source}
    key = f"{rule_id}-{version}-{source}-{start_h}-{end_h}"
    return Anomaly(
        anomaly_id=key,
        rule_id=rule_id,
        rule_version=version,
        severity=severity,
        group=group,
        window_start=at(start_h),
        window_end=at(end_h),
        ts=at(end_h),
        value=value,
        message=f"anomaly {key}",
        details={},
    )


def result(
    anomalies: Sequence[Anomaly],
    *,
    since: datetime = DAY0,
    until: datetime = DAY0 + timedelta(days=2),
    first: datetime | None = DAY0,
    last: datetime | None = DAY0 + timedelta(days=2),
    rule_id: str = "r",
    version: int = 1,
) -> BacktestResult:
    summary = backtest.BacktestSummary(
        rule_id=rule_id,
        rule_version=version,
        since=since,
        until=until,
        events_scanned=100,
        anomalies=len(anomalies),
        truncated=False,
        groups=len({a.group.get("source") for a in anomalies}),
        late_dropped=0,
        duplicates=0,
        replayed=0,
        suppressed=0,
        first_event_ts=first,
        last_event_ts=last,
        days=(until - since).days,
        fires_per_day=backtest.FiresPerDay(mean=len(anomalies) / 2, p95=0, max=0),
    )
    return BacktestResult(backtest.BacktestResult(list(anomalies), summary))
