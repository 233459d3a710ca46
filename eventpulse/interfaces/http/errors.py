"""Where EventPulse errors become HTTP answers: one mapping, with the field at fault."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from eventpulse.domain.errors import (
    EventPulseError,
    FieldError,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    StoreUnavailable,
    StreamBackpressure,
    StreamUnavailable,
)

_STATUS: list[tuple[type[EventPulseError], int]] = [
    (InvalidInput, 422),
    (PayloadTooLarge, 413),
    (NotFound, 404),
    (StreamBackpressure, 429),
    (StreamUnavailable, 503),
    (StoreUnavailable, 503),
]


def json_response(body: Any, status: int, headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


def error_body(detail: str, errors: Iterable[FieldError] = ()) -> dict[str, Any]:
    return {"detail": detail, "errors": [e.as_dict() for e in errors]}


def field_errors(exc: ValidationError, skip: int = 0) -> dict[int | None, list[FieldError]]:
    """Pydantic errors as FieldErrors, keyed by list index when `skip` drops it from the path."""
    grouped: dict[int | None, list[FieldError]] = {}
    for error in exc.errors(include_url=False):
        loc = error["loc"]
        index = loc[0] if skip and loc and isinstance(loc[0], int) else None
        path = ".".join(str(part) for part in loc[skip:]) or "body"
        grouped.setdefault(index, []).append(FieldError(path, _message(error)))
    return grouped


def _message(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown field"
    if error["type"] == "missing":
        return "field required"
    return str(error["msg"])


async def _eventpulse_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, EventPulseError)
    status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 500)
    headers = None
    retry_after = getattr(exc, "retry_after", None)
    if status in (429, 503):
        headers = {"Retry-After": str(retry_after or 1)}
    errors = exc.errors if isinstance(exc, InvalidInput) else []
    return json_response(error_body(str(exc), errors), status, headers)


async def _request_validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        FieldError(".".join(str(p) for p in e["loc"][1:]) or str(e["loc"][0]), _message(e))
        for e in exc.errors()
    ]
    return json_response(error_body("invalid request", errors), 422)


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    return json_response(error_body(str(exc.detail)), exc.status_code, exc.headers)


def install(app: FastAPI) -> None:
    app.add_exception_handler(EventPulseError, _eventpulse_error)
    app.add_exception_handler(RequestValidationError, _request_validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
