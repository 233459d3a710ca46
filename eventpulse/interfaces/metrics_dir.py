"""Where the processes of one installation put their Prometheus values (multiprocess mode).

Deliberately free of `prometheus_client` imports: this runs before it is imported, because
prometheus_client decides at import whether values go to files (see
infrastructure/prometheus_metrics.py). An explicit `PROMETHEUS_MULTIPROC_DIR` wins; otherwise
the directory is `metrics/` under `EVENTPULSE_HOME`, shared by every process started with
that home (`eventpulse up`'s children, or `api`/`worker`/`notifier` run side by side).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Final

MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"


def use_metrics_dir(home: Path, *, clean: bool) -> Path:
    """Point this process (and the children it starts) at the shared metrics directory.

    `clean` empties it: only for the process that owns every writer (`eventpulse up`, before
    it starts its children); a stand-alone process must not delete the files of live peers.
    """
    if "prometheus_client" in sys.modules and MULTIPROC_ENV not in os.environ:
        raise RuntimeError("prometheus_client was imported before its directory was set")
    configured = os.environ.get(MULTIPROC_ENV)
    path = Path(configured) if configured else home.resolve() / "metrics"
    path.mkdir(parents=True, exist_ok=True)
    if clean:
        for stale in path.glob("*.db"):
            stale.unlink(missing_ok=True)
    os.environ[MULTIPROC_ENV] = str(path)
    return path
