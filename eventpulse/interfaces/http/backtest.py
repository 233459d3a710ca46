"""`POST /rules/backtest`: a stored rule version, or a rule document, over stored events.

`{"rule_id": ..., "version": n (optional: the live one), "since": ..., "until": ...}` keeps the
stored id and version, so the anomalies (ids included) are the live engine's. `{"rule": <rule
document>, "since": ..., "until": ...}` backtests a document that need not be stored, as
`rule_id` = the document's `rule_id` or "backtest", version 0 (see application/backtest.py for
what "the same as live" means exactly). `since`/`until` are RFC 3339 with an offset; the range
is `since <= ts < until`. At most `MAX_ANOMALIES` anomalies are returned (the first in the
engine's order); `summary.anomalies` counts them all and `summary.truncated` says if some were
left out.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError
from starlette.responses import Response

from eventpulse.application.backtest import BacktestResult, BacktestSummary, anomaly_document
from eventpulse.domain.errors import FieldError, InvalidInput
from eventpulse.interfaces.http.access import READ
from eventpulse.interfaces.http.body import request_json
from eventpulse.interfaces.http.deps import Services
from eventpulse.interfaces.http.errors import field_errors, json_response
from eventpulse.interfaces.http.schemas import AnomalyOut, ErrorOut, Timestamp

MAX_ANOMALIES: Final = 10_000

router = APIRouter(prefix="/rules", tags=["rules"])


class BacktestIn(BaseModel):
    """Either `rule_id` (+ optional `version`) or `rule`, and the range `[since, until)`."""

    model_config = ConfigDict(extra="forbid")

    rule_id: str | None = Field(default=None, description="A stored rule")
    version: StrictInt | None = Field(default=None, ge=1, description="Default: the live one")
    rule: dict[str, Any] | None = Field(default=None, description="A rule document instead")
    since: Timestamp
    until: Timestamp


class BacktestOut(BaseModel):
    anomalies: list[AnomalyOut]
    # The use case's dataclass: pydantic documents it in OpenAPI as it is, no mirror to keep.
    summary: BacktestSummary


_SCHEMA = BacktestIn.model_json_schema(ref_template="#/components/schemas/{model}")


@router.post(
    "/backtest",
    response_model=BacktestOut,
    responses={code: {"model": ErrorOut} for code in (400, 404, 413, 415, 422, 503)},
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": _SCHEMA}}}
    },
    summary="Backtest a stored rule version or a rule document over stored events",
    dependencies=[READ],
)
async def backtest(request: Request, services: Services) -> Response:
    """The anomalies the live engine produces for the stored events of `[since, until)`,
    fed in arrival order from an empty state, and a summary."""
    body = await request_json(request, services.limits.max_body_bytes)
    query = _validated(body)
    if query.rule is not None:
        result = await services.backtest.document(
            query.rule, query.since, query.until, max_anomalies=MAX_ANOMALIES
        )
    else:
        assert query.rule_id is not None
        result = await services.backtest.stored(
            query.rule_id, query.version, query.since, query.until, max_anomalies=MAX_ANOMALIES
        )
    return json_response(_answer(result), 200)


def _validated(body: Any) -> BacktestIn:
    try:
        query = BacktestIn.model_validate(body)
    except ValidationError as exc:
        found = [error for group in field_errors(exc).values() for error in group]
        raise InvalidInput(found, "invalid backtest") from None
    errors: list[FieldError] = []
    if (query.rule_id is None) == (query.rule is None):
        errors.append(FieldError("rule_id", "give either rule_id (a stored rule) or rule"))
    if query.version is not None and query.rule is not None:
        errors.append(FieldError("version", "only with rule_id (a body rule is version 0)"))
    if errors:
        raise InvalidInput(errors, "invalid backtest")
    return query


def _answer(result: BacktestResult) -> dict[str, Any]:
    return {
        "anomalies": [anomaly_document(anomaly) for anomaly in result.anomalies],
        "summary": result.summary.as_dict(),
    }
