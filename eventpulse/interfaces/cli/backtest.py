"""`eventpulse backtest RULE_FILE --since --until`: a rule document over stored events, through
the HTTP API (`POST /api/v1/rules/backtest`).

RULE_FILE holds one rule document (YAML or JSON). It is backtested as a document (rule id: its
`rule_id` or "backtest", version 0). The summary and the first anomalies print as tables;
`--json` prints the API's answer as it is. A refused request prints its field errors and exits 1.

`--labels FILE` (JSON or YAML: a list of `[start, end]` windows, or NAB's mapping of series to
windows, with `--series` naming one) scores the anomalies against the labelled windows:
windows caught (recall) and anomalies inside a window (precision); see application/labels.py.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from eventpulse.application.labels import LabelWindow, label_windows, score
from eventpulse.domain.errors import InvalidInput
from eventpulse.interfaces.cli.api_client import (
    ApiUrl,
    answer,
    as_json_document,
    client,
    read_rule_file,
    reporting,
)

BACKTEST = "/api/v1/rules/backtest"


def backtest(
    rule_file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="One rule document, YAML or JSON.")
    ],
    since: Annotated[str, typer.Option(help="Range start, RFC 3339 with offset (inclusive).")],
    until: Annotated[str, typer.Option(help="Range end, RFC 3339 with offset (exclusive).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw JSON answer.")] = False,
    labels: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="Labelled windows to score against."),
    ] = None,
    series: Annotated[
        str | None, typer.Option(help="The series of a labels mapping (key or file stem).")
    ] = None,
    show: Annotated[int, typer.Option(min=0, help="How many anomalies to list.")] = 20,
    api_url: ApiUrl = None,
) -> None:
    """Backtest a rule file over the stored events of [SINCE, UNTIL)."""
    document = read_rule_file(rule_file)
    if not isinstance(document, dict):
        typer.echo(f"{rule_file}: expected one rule document (a mapping)", err=True)
        raise typer.Exit(1)
    windows = None if labels is None else _windows(labels, series)
    body = {"rule": as_json_document(document), "since": since, "until": until}
    with reporting(), client(api_url) as http:
        result = answer(http.post(BACKTEST, json=body, timeout=600))
    if windows is not None:
        spans = [
            (datetime.fromisoformat(a["window_start"]), datetime.fromisoformat(a["window_end"]))
            for a in result["anomalies"]
        ]
        result["labels"] = score(spans, windows).as_dict()
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    console = Console()
    console.print(summary_table(result["summary"]))
    console.print(anomaly_table(result["anomalies"], show, result["summary"]["anomalies"]))
    if windows is not None:
        console.print(labels_table(result["labels"], truncated=result["summary"]["truncated"]))


def _windows(path: Path, series: str | None) -> list[LabelWindow]:
    try:
        return label_windows(read_rule_file(path), series)
    except InvalidInput as invalid:
        for error in invalid.errors:
            typer.echo(f"{path}: {error.field}: {error.message}", err=True)
        raise typer.Exit(1) from invalid


def labels_table(scored: dict[str, Any], *, truncated: bool) -> Table:
    table = Table(title="Against the labelled windows", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    recall, precision = scored["recall"], scored["precision"]
    table.add_row(
        "windows caught",
        f"{scored['windows_caught']} of {scored['windows']}"
        + ("" if recall is None else f" (recall {recall:.2f})"),
    )
    table.add_row(
        "anomalies in a window",
        f"{scored['anomalies_in_windows']} of {scored['anomalies']}"
        + ("" if precision is None else f" (precision {precision:.2f})"),
    )
    for start, end in scored["missed"]:
        table.add_row("missed", f"{start} .. {end}")
    if truncated:
        table.add_row("note", "the answer was truncated: only the returned anomalies are scored")
    return table


def summary_table(summary: dict[str, Any]) -> Table:
    table = Table(title="Backtest summary", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    fires = summary["fires_per_day"]
    rows = [
        ("rule", f"{summary['rule_id']}@{summary['rule_version']}"),
        ("range", f"{summary['since']} .. {summary['until']}"),
        ("events scanned", str(summary["events_scanned"])),
        ("first / last event", f"{summary['first_event_ts']} / {summary['last_event_ts']}"),
        ("anomalies", str(summary["anomalies"]) + (" (truncated)" if summary["truncated"] else "")),
        ("distinct groups", str(summary["groups"])),
        ("fires per day", f"mean {fires['mean']}, p95 {fires['p95']}, max {fires['max']}"),
        ("days", str(summary["days"])),
        ("late dropped", str(summary["late_dropped"])),
        ("duplicates", str(summary["duplicates"])),
        ("suppressed (cooldown)", str(summary["suppressed"])),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def anomaly_table(anomalies: list[dict[str, Any]], show: int, total: int) -> Table:
    shown = anomalies[:show]
    table = Table(title=f"First {len(shown)} of {total} anomalies")
    for column in ("ts", "severity", "group", "window", "value", "anomaly_id"):
        table.add_column(column)
    for anomaly in shown:
        table.add_row(
            anomaly["ts"],
            anomaly["severity"],
            json.dumps(anomaly["group"]),
            f"{anomaly['window_start']} .. {anomaly['window_end']}",
            "" if anomaly["value"] is None else f"{anomaly['value']:.6g}",
            anomaly["anomaly_id"],
        )
    return table
