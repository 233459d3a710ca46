"""The one configuration object, read from `EVENTPULSE_*` environment variables.

Built once by each process's composition root and passed down; never at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EVENTPULSE_", extra="ignore")

    database_url: str | None = Field(
        default=None, description="PostgreSQL DSN; unset → embedded PostgreSQL under home"
    )
    redis_url: str | None = Field(
        default=None, description="Redis URL; unset → embedded Redis (AOF on) under home"
    )
    home: Path = Path(".eventpulse")
    namespace: str = Field(default="ep", pattern=r"^[A-Za-z0-9_.:{}-]+$")
    api_url: str = "http://127.0.0.1:8000"
    notifications: Path = Path("data/notifications.yaml")
    reports: Path = Field(
        default=Path("data/reports.yaml"), description="report schedules (`eventpulse scheduler`)"
    )

    # Anomaly reports (`eventpulse report`, `eventpulse scheduler`; files under home/reports).
    report_notebook: Path = Field(
        default=Path("notebooks/reports/anomaly_report.ipynb"),
        description="the parameterised report notebook papermill runs",
    )
    report_kernel: str = Field(default="eventpulse", description="the notebook's Jupyter kernel")
    report_start_timeout_s: float = Field(
        default=60.0, gt=0, description="a kernel that does not start within this fails the run"
    )
    report_execution_timeout_s: float = Field(
        default=300.0, gt=0, description="a cell that runs longer fails the run"
    )
    report_run_timeout_s: float = Field(
        default=900.0, gt=0, description="the scheduler kills a whole run that takes longer"
    )
    scheduler_grace_s: float = Field(
        default=10.0, ge=0, description="on stop, a running report may finish within this"
    )

    # Ingestion limits (the API answers 413/422 beyond them).
    max_body_bytes: int = 16 * 1024 * 1024
    max_batch_events: int = 10_000
    max_event_bytes: int = 64 * 1024
    # Backpressure: above this many stream entries the API answers 429 with Retry-After.
    stream_high_water: int = 200_000
    # Events per stream entry when the API groups concurrent writes.
    max_entry_events: int = 500

    # Worker tuning.
    worker_read_count: int = 100
    worker_block_ms: int = 500
    worker_max_deliveries: int = 5
    worker_claim_idle_ms: int = 30_000
    worker_claim_every_s: float = 5.0
    worker_trim_every_s: float = 5.0

    # Live evaluation and hot reload (invariants 5-7).
    evaluate: bool = Field(default=True, description="workers evaluate rules (one at a time)")
    evaluation_batch: int = Field(default=5_000, ge=1, description="events per evaluation step")
    evaluation_idle_s: float = 0.2
    rules_resync_s: float = Field(default=5.0, description="a missed reload is repaired within")
    worker_heartbeat_s: float = 1.0
    worker_ttl_s: float = Field(default=5.0, description="a silent worker is not waited for")
    reload_timeout_s: float = Field(default=10.0, description="rule writes wait this long")

    # Notifier (`eventpulse notifier`; invariant 8). Channel retries are in the YAML config.
    notifier_read_count: int = Field(default=100, ge=1)
    notifier_block_ms: int = Field(default=500, ge=1)
    notifier_max_in_flight: int = Field(
        default=1000, ge=1, description="anomalies held unacknowledged before reading pauses"
    )
    notifier_max_deliveries: int = Field(
        default=10, ge=1, description="a feed entry delivered more often is dead-lettered"
    )
    notifier_claim_idle_ms: int = Field(
        default=30_000, ge=1, description="entries idle this long on a notifier are claimed"
    )
    notifier_claim_every_s: float = Field(default=5.0, gt=0)
    notifier_grace_s: float = Field(default=10.0, ge=0, description="deliveries finish on stop")
    notifier_cache_s: float = Field(default=5.0, ge=0, description="silences are re-read after")

    # Live anomalies over WebSocket (`WS /api/v1/ws/anomalies`).
    ws_heartbeat_s: float = Field(default=15.0, gt=0, description="heartbeat of an idle client")
    ws_queue_size: int = Field(
        default=1000, ge=1, description="live messages queued for a client before it is too slow"
    )
    ws_send_timeout_s: float = Field(
        default=10.0, gt=0, description="a send stalled this long closes the client as too slow"
    )

    # Observability: logs, readiness (`GET /api/v1/ready`).
    log_format: Literal["json", "text"] | None = Field(
        default=None, description="json: one object per line; unset → json for services"
    )
    log_level: str = Field(default="INFO", description="level of the eventpulse.* loggers")
    ready_requires_worker: bool = Field(
        default=True, description="/ready fails while no worker reports a heartbeat"
    )
    ready_max_ingest_lag_s: float = Field(
        default=60.0, gt=0, description="/ready fails while an accepted event waits longer"
    )

    # Access control (API keys; `eventpulse keys ...`).
    api_key: SecretStr | None = Field(
        default=None, description="the key clients (CLI, notebooks) send as a Bearer token"
    )
    allow_unauthenticated: bool = Field(
        default=False, description="serve non-loopback clients while no API key exists"
    )
    api_key_cache_s: float = Field(
        default=5.0, gt=0, description="API processes re-read keys after; revocation delay"
    )

    @property
    def stream_key(self) -> str:
        return f"{self.namespace}:events"

    @property
    def dead_letter_key(self) -> str:
        return f"{self.namespace}:events:dead"
