"""`eventpulse rules list|apply FILE|enable ID|disable ID`, through the HTTP API.

`apply` reads YAML or JSON holding one rule document or a list of them. A document whose
`rule_id` names a live rule replaces it (PUT); any other is created (POST), under its `rule_id`
if it has one. Each applied rule prints as `id@version`; a rule the API refuses prints its
field errors, the others are still applied, and the exit status is 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from eventpulse.interfaces.cli.api_client import (
    ApiUrl,
    Refused,
    answer,
    as_json_document,
    client,
    read_rule_file,
    reporting,
)

rules = typer.Typer(no_args_is_help=True, help="Detection rules (through the HTTP API).")

RULES = "/api/v1/rules"


@rules.command("list")
def list_rules(api_url: ApiUrl = None) -> None:
    """Print the live rules: id@version, enabled, type, severity, name."""
    with reporting(), client(api_url) as http:
        for rule in live_rules(http):
            state = "enabled" if rule["enabled"] else "disabled"
            typer.echo(
                f"{rule['rule_id']}@{rule['version']}\t{state}\t{rule['type']}\t"
                f"{rule['severity']}\t{rule['name']}"
            )


@rules.command("apply")
def apply(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="YAML or JSON.")],
    api_url: ApiUrl = None,
) -> None:
    """Create or replace the rules of FILE."""
    loaded = read_rule_file(file)
    documents = loaded if isinstance(loaded, list) else [loaded]
    failed = False
    with reporting(), client(api_url) as http:
        for index, document in enumerate(documents):
            where = f"{file}[{index}]" if isinstance(loaded, list) else str(file)
            try:
                typer.echo(apply_one(http, document))
            except Refused as refused:
                failed = True
                typer.echo(f"{where}: {refused}", err=True)
    if failed:
        raise typer.Exit(1)


@rules.command("enable")
def enable(rule_id: str, api_url: ApiUrl = None) -> None:
    """Enable a rule (a new version)."""
    _set_enabled(rule_id, True, api_url)


@rules.command("disable")
def disable(rule_id: str, api_url: ApiUrl = None) -> None:
    """Disable a rule (a new version)."""
    _set_enabled(rule_id, False, api_url)


def _set_enabled(rule_id: str, enabled: bool, api_url: str | None) -> None:
    with reporting(), client(api_url) as http:
        rule = answer(http.patch(f"{RULES}/{rule_id}", json={"enabled": enabled}))
    typer.echo(f"{rule['rule_id']}@{rule['version']} {'enabled' if enabled else 'disabled'}")


def live_rules(http: httpx.Client) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params = {"limit": 500} | ({"cursor": cursor} if cursor else {})
        page = answer(http.get(RULES, params=params))
        found += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return found


def apply_one(http: httpx.Client, document: Any) -> str:
    """`id@version` of the applied document (`(unchanged)` when the API stored nothing new)."""
    if not isinstance(document, dict):
        raise Refused("expected a rule document (a mapping)")
    document = as_json_document(document)
    rule_id = document.get("rule_id")
    live = None
    if isinstance(rule_id, str) and rule_id:
        found = http.get(f"{RULES}/{rule_id}")
        live = None if found.status_code == 404 else answer(found)
    if live is None:
        rule = answer(http.post(RULES, json=document))
        return f"{rule['rule_id']}@{rule['version']} created"
    rule = answer(http.put(f"{RULES}/{rule_id}", json=document))
    changed = "updated" if rule["version"] != live["version"] else "unchanged"
    return f"{rule['rule_id']}@{rule['version']} {changed}"
