"""What every benchmark module receives: the settings of the run, where to run, the results."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.environment import Target
from benchmarks.report import Results
from benchmarks.workload import stream_entries
from eventpulse.infrastructure.settings import Settings


def _product_default(name: str) -> Any:
    return Settings.model_fields[name].default


@dataclass(frozen=True)
class Config:
    # Worker persistence and the raw insert baselines: the same rows.
    events: int = 200_000
    # Events per stream entry and entries per XREADGROUP: the product's defaults.
    entry_events: int = _product_default("max_entry_events")
    read_count: int = _product_default("worker_read_count")
    persist_timeout_s: float = 90.0
    insert_budget_s: float = 15.0  # per raw insert strategy
    # Raw XADD baseline.
    xadd_repeats: int = 3
    xadd_pipeline_single: int = 1000  # XADDs per round trip, one event per entry
    xadd_pipeline_entries: int = 4  # XADDs per round trip, entry_events per entry
    # API ingest (wrk, closed loop).
    batch_events: int = 1000
    batch_connections: int = 4
    single_connections: int = 64
    wrk_duration_s: float = 10.0
    warmup_s: float = 2.0
    # API single-event latency (open loop, fixed rate).
    fixed_rate: float = 1500.0
    fixed_duration_s: float = 10.0
    fixed_connections: int = 32
    # py-spy profiles of the product processes under load (None: no profiling).
    profile_dir: Path | None = None
    steps: tuple[str, ...] = ("baselines", "persist", "api")

    @property
    def worker_batch_events(self) -> int:
        return self.entry_events * self.read_count

    def as_dict(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}


@dataclass
class Context:
    config: Config
    target: Target
    workdir: Path
    results: Results
    baselines: dict[str, float] = field(default_factory=dict)
    wire_events: list[bytes] = field(default_factory=list)  # encoded as the API writes them

    def entries(self) -> list[bytes]:
        """The wire events as stream entries of `entry_events` events each."""
        return stream_entries(self.wire_events, self.config.entry_events)
