"""`GET /metrics` (at the root, not under /api/v1): Prometheus text format.

One scrape covers every process of the installation: the API, the workers and the notifier
count into a shared multiprocess directory, summed here (infrastructure/prometheus_metrics.py).
It needs the `read` scope like the other reads: give Prometheus a key (`authorization` in
its scrape config) once keys are in use.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from starlette.responses import Response

from eventpulse.infrastructure.prometheus_metrics import exposition
from eventpulse.interfaces.http.access import READ

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
    summary="Prometheus metrics of every process",
    dependencies=[READ],
)
async def metrics() -> Response:
    body, content_type = await asyncio.to_thread(exposition)  # reads one file per process
    return Response(body, 200, media_type=content_type)
