"""What the CLI commands that talk to the HTTP API share: the client, answers, rule files."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
import yaml

from eventpulse.infrastructure.settings import Settings

ApiUrl = Annotated[str | None, typer.Option(help="Defaults to EVENTPULSE_API_URL.")]


class Refused(Exception):
    """The API answered with an error; the message says what and where."""


def client(api_url: str | None) -> httpx.Client:
    settings = Settings()
    return httpx.Client(
        base_url=api_url or settings.api_url, timeout=30, headers=auth_headers(settings)
    )


def auth_headers(settings: Settings) -> dict[str, str]:
    """`Authorization: Bearer <EVENTPULSE_API_KEY>` when a key is configured."""
    if settings.api_key is None:
        return {}
    return {"Authorization": f"Bearer {settings.api_key.get_secret_value()}"}


def answer(response: httpx.Response) -> Any:
    """The JSON of a successful answer; `Refused` with the field errors of any other."""
    if response.is_success:
        return response.json()
    try:
        body = response.json()
    except ValueError:
        raise Refused(f"HTTP {response.status_code}: {response.text.strip()}") from None
    lines = [f"HTTP {response.status_code}: {body.get('detail', '')}"]
    if response.status_code in (401, 403):
        lines.append("  (the CLI sends the API key in EVENTPULSE_API_KEY)")
    lines += [f"  {e['field']}: {e['message']}" for e in body.get("errors", [])]
    raise Refused("\n".join(lines))


@contextmanager
def reporting() -> Iterator[None]:
    """Turns a refusal or an unreachable API into a message and exit status 1."""
    try:
        yield
    except Refused as refused:
        typer.echo(str(refused), err=True)
        raise typer.Exit(1) from refused
    except httpx.TransportError as exc:
        typer.echo(f"cannot reach the API: {exc}", err=True)
        raise typer.Exit(1) from exc


def read_rule_file(path: Path) -> Any:
    """The YAML/JSON content of a rule file; exit 1 with the reason when it cannot be read."""
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        typer.echo(f"{path}: not YAML or JSON: {exc}", err=True)
        raise typer.Exit(1) from exc


def as_json_document(document: dict[str, Any]) -> dict[str, Any]:
    """YAML reads timestamps (a saved resource's `created_at`) as datetimes; send them as text."""
    result: dict[str, Any] = json.loads(json.dumps(document, default=str))
    return result
