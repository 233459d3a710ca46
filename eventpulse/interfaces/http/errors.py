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
    Conflict,
    EventPulseError,
    FieldError,
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ReloadNotConfirmed,
    StoreUnavailable,
    StreamBackpressure,
    StreamUnavailable,
    Unauthenticated,
)

_STATUS: list[tuple[type[EventPulseError], int]] = [
    (InvalidInput, 422),
    (PayloadTooLarge, 413),
    (NotFound, 404),
    (Conflict, 409),
    (Unauthenticated, 401),
    (Forbidden, 403),
    (RateLimited, 429),
    (StreamBackpressure, 429),
    (StreamUnavailable, 503),
    (StoreUnavailable, 503),
    (ReloadNotConfirmed, 504),
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


class BadBody(EventPulseError):
    """A request body that cannot be read as JSON at all (HTTP-level: 400 or 415)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status


def error_parts(exc: EventPulseError) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Status, JSON body and headers of the answer to `exc` (the one mapping of the API)."""
    if isinstance(exc, BadBody):
        status = exc.status
    else:
        status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 500)
    headers = {}
    if status in (429, 503):
        headers["Retry-After"] = str(getattr(exc, "retry_after", None) or 1)
    if isinstance(exc, Unauthenticated | Forbidden):
        headers["WWW-Authenticate"] = _challenge(exc)
    errors = exc.errors if isinstance(exc, InvalidInput) else []
    body = error_body(str(exc), errors)
    if isinstance(exc, ReloadNotConfirmed):
        body |= {"laggards": exc.laggards, "rule": exc.rule}
    return status, body, headers


def _challenge(exc: Unauthenticated | Forbidden) -> str:
    """RFC 6750: no error code for a missing key, `invalid_token`, `insufficient_scope`."""
    if isinstance(exc, Forbidden):
        return f'Bearer realm="eventpulse", error="insufficient_scope", scope="{exc.needed}"'
    if exc.token_given:
        return 'Bearer realm="eventpulse", error="invalid_token"'
    return 'Bearer realm="eventpulse"'


async def _eventpulse_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, EventPulseError)
    status, body, headers = error_parts(exc)
    return json_response(body, status, headers)


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
