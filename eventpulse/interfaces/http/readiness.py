"""Readiness checks beyond "Redis and PostgreSQL answer": the pipeline behind the API moves.

- `workers`: at least one worker's heartbeat report is live (`{ns}:workers:{name}` expires
  `EVENTPULSE_WORKER_TTL_S` after its last heartbeat); not a failure when
  `EVENTPULSE_READY_REQUIRES_WORKER=false` (an API that should keep accepting into the
  stream while workers are away);
- `ingest_lag`: the oldest accepted event not yet stored has waited at most
  `EVENTPULSE_READY_MAX_INGEST_LAG_S`.
A failed check raises `NotReady`, whose message is the reason `/ready` lists.
"""

from __future__ import annotations

from typing import Protocol

from eventpulse.interfaces.http.deps import Probe


class NotReady(Exception):
    """A readiness check failed for the reason given as the message."""


class PipelineProbe(Protocol):
    async def live_workers(self) -> dict[str, int]: ...

    async def ingest_lag_s(self) -> float: ...


def pipeline_probes(
    pipeline: PipelineProbe, *, requires_worker: bool, max_ingest_lag_s: float
) -> dict[str, Probe]:
    async def workers() -> None:
        if requires_worker and not await pipeline.live_workers():
            raise NotReady("no live worker (no heartbeat report)")

    async def ingest_lag() -> None:
        waited = await pipeline.ingest_lag_s()
        if waited > max_ingest_lag_s:
            raise NotReady(
                f"the oldest accepted event has waited {waited:.1f}s to be stored"
                f" (limit {max_ingest_lag_s:g}s)"
            )

    return {"workers": workers, "ingest_lag": ingest_lag}
