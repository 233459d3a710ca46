"""`eventpulse ingest FILE` sends a NAB series of the sample data through the API."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import psycopg

from tests.integration.conftest import Product
from tests.support import spawn, wait_until

SERIES = Path(__file__).parents[2] / "data/nab/realAWSCloudwatch/ec2_cpu_utilization_825cc2.csv"


def test_a_nab_csv_is_ingested_row_for_row_with_utc_timestamps(
    product: Product, db: psycopg.Connection[Any], tmp_path: Path
) -> None:
    api = product.start_api()
    product.start_worker("w1")
    with SERIES.open() as f:
        rows = list(csv.DictReader(f))

    env = {**product.env, "EVENTPULSE_API_URL": api}
    cli = spawn(
        ["ingest", str(SERIES), "--event-type", "cpu_utilization", "--source", "ec2-825cc2"],
        env,
        tmp_path / "ingest.log",
    )
    assert cli.wait(120) == 0, (tmp_path / "ingest.log").read_text()
    assert f"accepted {len(rows)}, rejected 0" in (tmp_path / "ingest.log").read_text()

    def stored() -> int:
        return int(db.execute("SELECT count(*) FROM events").fetchone()[0])

    wait_until(lambda: stored() == len(rows), what=f"{len(rows)} stored events")
    first = db.execute(
        "SELECT event_type, source, ts, payload FROM events ORDER BY ts LIMIT 1"
    ).fetchone()
    assert first[0:2] == ("cpu_utilization", "ec2-825cc2")
    assert first[2].isoformat() == rows[0]["timestamp"].replace(" ", "T") + "+00:00"
    assert first[3] == {"value": float(rows[0]["value"])}
