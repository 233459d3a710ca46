"""Liveness and readiness."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from starlette.responses import Response

from eventpulse.interfaces.http.access import PUBLIC
from eventpulse.interfaces.http.deps import Services
from eventpulse.interfaces.http.errors import json_response
from eventpulse.interfaces.http.readiness import NotReady
from eventpulse.interfaces.http.schemas import HealthOut, ReadyOut

router = APIRouter(tags=["health"])

_PROBE_TIMEOUT_S = 2.0


@router.get(
    "/health",
    response_model=HealthOut,
    summary="Liveness: the process answers",
    dependencies=[PUBLIC],
)
async def health() -> Response:
    return json_response({"status": "ok"}, 200)


@router.get(
    "/ready",
    response_model=ReadyOut,
    responses={503: {"model": ReadyOut}},
    summary="Readiness: Redis and PostgreSQL reachable, workers alive, ingest lag bounded",
    dependencies=[PUBLIC],  # probes of load balancers and orchestrators carry no key
)
async def ready(services: Services) -> Response:
    names = list(services.probes)
    results = await asyncio.gather(
        *(asyncio.wait_for(services.probes[n](), _PROBE_TIMEOUT_S) for n in names),
        return_exceptions=True,
    )
    checks = {name: _check(result) for name, result in zip(names, results, strict=True)}
    ok = all(value == "ok" for value in checks.values())
    return json_response(
        {"status": "ready" if ok else "not ready", "checks": checks}, 200 if ok else 503
    )


def _check(result: object) -> str:
    if result is None:
        return "ok"
    if isinstance(result, NotReady):
        return f"failed: {result}"
    if isinstance(result, TimeoutError):
        return f"failed: no answer within {_PROBE_TIMEOUT_S:g}s"
    return f"failed: {result!r}"
