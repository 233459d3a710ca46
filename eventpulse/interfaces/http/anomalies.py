"""Anomalies: the stored anomalies, filtered and paged, and one by id."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from eventpulse.application import queries
from eventpulse.application.backtest import anomaly_document
from eventpulse.application.ports import StoredAnomaly
from eventpulse.domain.rules import Severity
from eventpulse.interfaces.http.access import READ
from eventpulse.interfaces.http.deps import Services
from eventpulse.interfaces.http.errors import json_response
from eventpulse.interfaces.http.paging import (
    LIST_ERRORS,
    Cursor,
    Limit,
    NameFilter,
    Since,
    Until,
    list_body,
)
from eventpulse.interfaces.http.schemas import AnomalyListOut, AnomalyOut, ErrorOut

router = APIRouter(prefix="/anomalies", tags=["anomalies"])

SeverityFilter = Annotated[Severity | None, Query()]


@router.get(
    "",
    response_model=AnomalyListOut,
    responses=LIST_ERRORS,
    summary="Stored anomalies",
    dependencies=[READ],
)
async def list_anomalies(
    services: Services,
    rule_id: NameFilter = None,
    severity: SeverityFilter = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = queries.DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    """Anomalies by ascending `ts` (then `anomaly_id`), `since <= ts < until`; follow
    `next_cursor` until it is null."""
    page = await queries.list_anomalies(
        services.anomalies,
        rule_id=rule_id,
        severity=severity,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
    )
    return json_response(list_body(page, _document), 200)


@router.get(
    "/{anomaly_id}",
    response_model=AnomalyOut,
    responses={code: {"model": ErrorOut} for code in (404, 503)},
    summary="One anomaly",
    dependencies=[READ],
)
async def get_anomaly(anomaly_id: str, services: Services) -> Response:
    return json_response(_document(await queries.find_anomaly(services.anomalies, anomaly_id)), 200)


def _document(stored: StoredAnomaly) -> dict[str, object]:
    return anomaly_document(stored.anomaly, stored.created_at)
