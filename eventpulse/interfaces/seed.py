"""`eventpulse up --seed`: the sample data and the example rules, through the product's own API.

Rules first (`data/rules/*.yaml`, applied as `eventpulse rules apply` does: an unchanged rule
stores nothing), so the live workers evaluate the sample as it arrives. Then every NAB series
under `data/nab`, read as `eventpulse ingest FILE` reads it (event_type `metric`, source = the
file's stem, event ids derived from file, line and content, so seeding again stores nothing
new), merged in timestamp order, as if the machines had reported side by side: rules run on
event time, and sending one series after another would make every later series late for the
watermark the earlier ones had pushed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml

from eventpulse.interfaces.cli.api_client import Refused, answer, client
from eventpulse.interfaces.cli.ingest_file import read_events
from eventpulse.interfaces.cli.rules import apply_one

log = logging.getLogger("eventpulse.seed")

BATCH = "/api/v1/events/batch"


@dataclass
class SeedReport:
    rules: list[str] = field(default_factory=list)
    accepted: int = 0
    rejected: int = 0


def sample_rule_files(data: Path) -> list[Path]:
    return sorted((data / "rules").glob("*.yaml"))


def sample_series_files(data: Path) -> list[Path]:
    return sorted((data / "nab").rglob("*.csv"))


def sample_events(data: Path) -> list[dict[str, Any]]:
    """Every sample series as events, in timestamp order (stable: a file's own order within
    one timestamp)."""
    events = [
        event
        for path in sample_series_files(data)
        for event in read_events(path, default_type="metric", default_source=path.stem)
    ]
    return sorted(events, key=lambda event: datetime.fromisoformat(event["timestamp"]))


def seed(
    api_url: str,
    data: Path,
    *,
    batch_size: int = 1000,
    progress: Callable[[str], None] = log.info,
) -> SeedReport:
    """Apply the example rules, then send the sample series; what was applied and accepted."""
    report = SeedReport()
    with client(api_url) as http:
        wait_until_healthy(http)
        for path in sample_rule_files(data):
            try:
                report.rules.append(apply_one(http, yaml.safe_load(path.read_text())))
            except Refused as refused:  # e.g. a reload not confirmed in time: stored anyway
                report.rules.append(f"{path.name}: {refused}")
            progress(f"seed: {report.rules[-1]}")
        events = sample_events(data)
        progress(f"seed: sending {len(events)} sample events")
        for batch in _batches(events, batch_size):
            body = _post(http, orjson.dumps(batch))
            report.accepted += body["accepted"]
            report.rejected += len(body["rejected"])
    progress(f"seed: accepted {report.accepted}, rejected {report.rejected}")
    return report


def wait_until_healthy(http: httpx.Client, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if http.get("/api/v1/health", timeout=2).is_success:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the API did not answer /api/v1/health within {timeout_s}s")
        time.sleep(0.2)


def _batches(events: list[dict[str, Any]], size: int) -> Iterable[list[dict[str, Any]]]:
    iterator = iter(events)
    while batch := list(islice(iterator, size)):
        yield batch


def _post(http: httpx.Client, body: bytes, attempts: int = 20) -> dict[str, Any]:
    """One batch; 429/503 are retried after their Retry-After (the stream is catching up)."""
    headers = {"content-type": "application/json"}
    for _ in range(attempts):
        response = http.post(BATCH, content=body, headers=headers)
        if response.status_code in (429, 503):
            time.sleep(min(30.0, float(response.headers.get("retry-after", "1"))))
            continue
        result: dict[str, Any] = answer(response)
        return result
    raise Refused(f"the API kept answering {response.status_code}; try seeding again later")
