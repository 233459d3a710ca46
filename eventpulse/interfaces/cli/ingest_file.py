"""`eventpulse ingest FILE`: stream a CSV or JSONL file of events into the HTTP API.

JSONL lines are event documents. CSV rows map `event_id`, `event_type`, `source` and
`timestamp` columns to those fields and every other column into `payload` (numbers become
numbers). Timestamps without an offset are taken as UTC (NAB's CSVs are written that way).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

import httpx
import orjson
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

_FIELDS = ("event_id", "event_type", "source", "timestamp")


@dataclass
class IngestReport:
    accepted: int = 0
    rejected: int = 0


def send_file(
    path: Path, *, api_url: str, batch_size: int, default_type: str, default_source: str
) -> IngestReport:
    report = IngestReport()
    total = _count_records(path)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with httpx.Client(base_url=api_url, timeout=30) as client, Progress(*columns) as progress:
        task = progress.add_task(f"ingesting {path.name}", total=total)
        events = read_events(path, default_type=default_type, default_source=default_source)
        while batch := list(islice(events, batch_size)):
            response = client.post(
                "/api/v1/events/batch",
                content=orjson.dumps(batch),
                headers={"content-type": "application/json"},
            )
            if response.status_code not in (202, 400):
                response.raise_for_status()
            body = response.json()
            report.accepted += body["accepted"]
            report.rejected += len(body["rejected"])
            progress.advance(task, len(batch))
    return report


def read_events(path: Path, *, default_type: str, default_source: str) -> Iterator[dict[str, Any]]:
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        with path.open("rb") as lines:
            for line in lines:
                if line.strip():
                    yield orjson.loads(line)
        return
    with path.open(newline="") as rows:
        for row in csv.DictReader(rows):
            yield _csv_event(row, default_type, default_source)


def _csv_event(row: dict[str, str], default_type: str, default_source: str) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_type": row.get("event_type") or default_type,
        "source": row.get("source") or default_source,
        "payload": {k: _number(v) for k, v in row.items() if k not in _FIELDS},
    }
    if row.get("event_id"):
        event["event_id"] = row["event_id"]
    if row.get("timestamp"):
        event["timestamp"] = _utc_text(row["timestamp"])
    return event


def _utc_text(text: str) -> str:
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.isoformat()


def _number(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def _count_records(path: Path) -> int:
    with path.open("rb") as f:
        lines = sum(1 for line in f if line.strip())
    return lines if path.suffix.lower() in (".jsonl", ".ndjson") else max(0, lines - 1)
