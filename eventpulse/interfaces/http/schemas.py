"""Shapes of the HTTP API's documents: validation of input, and response models for OpenAPI."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Required
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StringConstraints,
    TypeAdapter,
)
from typing_extensions import TypedDict

from eventpulse.domain.events import MAX_NAME_LENGTH

Name = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME_LENGTH)]


def _rfc3339_text(value: Any) -> Any:
    # Pydantic's lax mode would also take Unix seconds; the contract is RFC 3339 with offset.
    if value is not None and not isinstance(value, str):
        raise ValueError("must be an RFC 3339 string with an offset")
    return value


Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339_text)]


class EventIn(TypedDict, total=False):
    """An event as producers send it. Validated into a plain dict (cheap: no model objects)."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    event_id: UUID | None
    event_type: Required[Name]
    source: Required[Name]
    timestamp: Timestamp | None
    payload: dict[str, Any]


EVENT_IN = TypeAdapter(EventIn)
EVENT_LIST_IN = TypeAdapter(list[EventIn])


class FieldErrorOut(BaseModel):
    field: str
    message: str


class ErrorOut(BaseModel):
    detail: str
    errors: list[FieldErrorOut] = []


class AcceptedOut(BaseModel):
    event_id: UUID
    status: Literal["accepted"] = "accepted"


class RejectedItemOut(BaseModel):
    index: int
    errors: list[FieldErrorOut]


class BatchAcceptedOut(BaseModel):
    accepted: int
    event_ids: list[UUID]
    rejected: list[RejectedItemOut]


class BatchRejectedOut(BatchAcceptedOut):
    detail: str


class EventOut(BaseModel):
    event_id: UUID
    event_type: str
    source: str
    timestamp: datetime
    payload: dict[str, Any]
    received_at: datetime


class EventListOut(BaseModel):
    items: list[EventOut]
    next_cursor: str | None


class AnomalyOut(BaseModel):
    """The anomaly document of DESIGN §4: the engine's `Anomaly` plus `created_at` (when it was
    stored; null in a backtest), which the pure engine does not know about."""

    anomaly_id: str
    rule_id: str
    rule_version: int
    severity: str
    group: dict[str, Any]
    window_start: datetime
    window_end: datetime
    ts: datetime
    value: float | None
    message: str | None
    details: dict[str, Any]
    created_at: datetime | None


class AnomalyListOut(BaseModel):
    items: list[AnomalyOut]
    next_cursor: str | None


class HealthOut(BaseModel):
    status: Literal["ok"]


class ReadyOut(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, str]
