"""What every `eventpulse` process sets up before its command runs: logging and metrics.

Runs from the CLI's callback, before a command imports its composition root, so that the
metrics directory is known before `prometheus_client` is imported (interfaces/metrics_dir.py).
"""

from __future__ import annotations

from typing import Final

from eventpulse.infrastructure.settings import Settings
from eventpulse.interfaces.logs import SERVICE_ROLES, configure_logging
from eventpulse.interfaces.metrics_dir import use_metrics_dir

METERED: Final = frozenset({"up", "api", "worker", "notifier", "scheduler"})
"""The processes that count metrics (`up` only cleans the directory and reaps children)."""


def prepare_process(command: str | None) -> None:
    settings = Settings()
    role = command if command in SERVICE_ROLES else "cli"
    configure_logging(role, settings.log_format, settings.log_level)
    if role in METERED:
        use_metrics_dir(settings.home, clean=role == "up")
