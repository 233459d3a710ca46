"""`eventpulse ingest FILE`: stream a CSV or JSONL file of events into the HTTP API.

JSONL lines are event documents. CSV rows map `event_id`, `event_type`, `source` and
`timestamp` columns to those fields and every other column into `payload` (numbers become
numbers). Timestamps without an offset are taken as UTC (NAB's CSVs are written that way).
An event without an id gets one derived from the file name, line and content, so running the
same file twice (or retrying after a timeout) stores each event once. A 429/503 answer is
retried after its Retry-After.
"""

from __future__ import annotations

import csv
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

import httpx
import orjson
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

_FIELDS = ("event_id", "event_type", "source", "timestamp")
_IDS = uuid.UUID("6b1f3c2e-8d4a-4f0e-9a57-3c1d2e4f5a60")  # namespace of file-derived event ids


@dataclass
class IngestReport:
    accepted: int = 0
    rejected: int = 0


def send_file(
    path: Path,
    *,
    api_url: str,
    batch_size: int,
    default_type: str,
    default_source: str,
    headers: Mapping[str, str] | None = None,
) -> IngestReport:
    report = IngestReport()
    total = _count_records(path)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    http = httpx.Client(base_url=api_url, timeout=30, headers=headers)
    with http as client, Progress(*columns) as progress:
        task = progress.add_task(f"ingesting {path.name}", total=total)
        events = read_events(path, default_type=default_type, default_source=default_source)
        while batch := list(islice(events, batch_size)):
            body = _post(client, orjson.dumps(batch))
            report.accepted += body["accepted"]
            report.rejected += len(body["rejected"])
            progress.advance(task, len(batch))
    return report


def _post(client: httpx.Client, body: bytes, attempts: int = 10) -> dict[str, Any]:
    for _ in range(attempts):
        response = client.post(
            "/api/v1/events/batch", content=body, headers={"content-type": "application/json"}
        )
        if response.status_code in (429, 503):
            time.sleep(min(30.0, float(response.headers.get("retry-after", "1"))))
            continue
        if response.status_code not in (202, 400):
            raise typer.BadParameter(f"the API answered {response.status_code}: {response.text}")
        result: dict[str, Any] = response.json()
        return result
    raise typer.BadParameter(f"the API kept answering {response.status_code}; try again later")


def read_events(path: Path, *, default_type: str, default_source: str) -> Iterator[dict[str, Any]]:
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        with path.open("rb") as lines:
            for number, line in enumerate(lines, start=1):
                if line.strip():
                    yield _with_id(_json_line(path, number, line), path, number)
        return
    with path.open(newline="") as rows:
        for number, row in enumerate(csv.DictReader(rows), start=2):
            yield _with_id(_csv_event(row, default_type, default_source), path, number)


def _json_line(path: Path, number: int, line: bytes) -> dict[str, Any]:
    try:
        document = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise typer.BadParameter(f"{path}:{number}: not JSON ({exc})") from exc
    if not isinstance(document, dict):
        raise typer.BadParameter(f"{path}:{number}: not a JSON object")
    return document


def _with_id(event: dict[str, Any], path: Path, number: int) -> dict[str, Any]:
    if not event.get("event_id"):
        content = orjson.dumps(event, option=orjson.OPT_SORT_KEYS).decode()
        event["event_id"] = str(uuid.uuid5(_IDS, f"{path.name}:{number}:{content}"))
    return event


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
