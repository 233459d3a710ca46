"""`eventpulse ingest FILE` sends a NAB series of the sample data through the API."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import httpx
import psycopg

from tests.integration.conftest import Product
from tests.support import spawn, wait_until

SERIES = Path(__file__).parents[2] / "data/nab/realAWSCloudwatch/ec2_cpu_utilization_825cc2.csv"


def test_a_nab_csv_is_ingested_row_for_row_with_utc_timestamps_and_once_when_sent_twice(
    product: Product, db: psycopg.Connection[Any], tmp_path: Path
) -> None:
    api = product.start_api()
    product.start_worker("w1")
    with SERIES.open() as f:
        rows = list(csv.DictReader(f))

    env = {**product.env, "EVENTPULSE_API_URL": api}
    for run in ("first", "second"):
        log = tmp_path / f"ingest-{run}.log"
        cli = spawn(
            ["ingest", str(SERIES), "--event-type", "cpu_utilization", "--source", "ec2-825cc2"],
            env,
            log,
        )
        assert cli.wait(120) == 0, log.read_text()
        assert f"accepted {len(rows)}, rejected 0" in log.read_text()

    # One worker stores entries in stream order: once a marker sent last is stored, both runs are.
    marker = httpx.post(f"{api}/api/v1/events", json={"event_type": "marker", "source": "t"})
    marker_id = marker.json()["event_id"]
    wait_until(
        lambda: db.execute("SELECT 1 FROM events WHERE event_id = %s", (marker_id,)).fetchone(),
        what="the marker event",
    )
    assert db.execute("SELECT count(*) FROM events").fetchone()[0] == len(rows) + 1
    first = db.execute(
        "SELECT event_type, source, ts, payload FROM events WHERE event_type <> 'marker' "
        "ORDER BY ts LIMIT 1"
    ).fetchone()
    assert first[0:2] == ("cpu_utilization", "ec2-825cc2")
    assert first[2].isoformat() == rows[0]["timestamp"].replace(" ", "T") + "+00:00"
    assert first[3] == {"value": float(rows[0]["value"])}
