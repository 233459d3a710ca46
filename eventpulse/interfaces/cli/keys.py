"""`eventpulse keys create|list|revoke`: API keys, straight in PostgreSQL (like `db upgrade`).

They talk to the database, not to the API, because they bootstrap access to it. `create`
prints the key (`ep_<id>_<secret>`) once, alone on stdout, so it can be captured:
`export EVENTPULSE_API_KEY=$(eventpulse keys create --scope admin)`; only a salted digest of
it is stored. A revocation reaches every running API within EVENTPULSE_API_KEY_CACHE_S (5 s).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from typing import Annotated

import typer

from eventpulse.application.api_keys import create_key, revoke_key
from eventpulse.domain.access import ApiKey, parse_scopes
from eventpulse.domain.errors import InvalidInput, NotFound, StoreUnavailable
from eventpulse.infrastructure.postgres_api_keys import PostgresKeyRegistry
from eventpulse.infrastructure.settings import Settings

keys = typer.Typer(no_args_is_help=True, help="API keys (in PostgreSQL, not through the API).")


@keys.command("create")
def create(
    scope: Annotated[
        list[str],
        typer.Option(
            "--scope",
            help="ingest, read or admin (repeat or comma-separate); admin implies the others.",
        ),
    ],
    name: Annotated[str, typer.Option(help="What the key is for (shown by `keys list`).")] = "",
    rate: Annotated[
        float | None,
        typer.Option(help="Ingestion limit: events per second, per API process (none: no limit)."),
    ] = None,
) -> None:
    """Create a key and print it once."""
    try:
        scopes = parse_scopes(scope)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--scope") from None
    with _failures(), _registry() as registry:
        key, text = create_key(
            registry, scopes=scopes, name=name, rate_per_s=rate, now=datetime.now(UTC)
        )
    typer.echo(text)
    typer.echo(
        f"created API key {key.key_id} ({_describe(key)}); it is shown only now: store it",
        err=True,
    )


@keys.command("list")
def list_keys() -> None:
    """Every key: id, state, scopes, rate, created, name (never the key itself)."""
    with _failures(), _registry() as registry:
        for key in registry.all():
            state = f"revoked {key.revoked_at:%Y-%m-%dT%H:%M:%SZ}" if key.revoked_at else "active"
            rate = f"{key.rate_per_s:g}/s" if key.rate_per_s is not None else "-"
            typer.echo(
                f"{key.key_id}\t{state}\t{','.join(sorted(key.scopes))}\t{rate}\t"
                f"{key.created_at:%Y-%m-%dT%H:%M:%SZ}\t{key.name}"
            )


@keys.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The id `keys list` shows.")]) -> None:
    """Revoke a key: running APIs refuse it within EVENTPULSE_API_KEY_CACHE_S (5 s)."""
    settings = Settings()
    with _failures(), _registry() as registry:
        key = revoke_key(registry, key_id, datetime.now(UTC))
    typer.echo(
        f"revoked API key {key.key_id} ({_describe(key)}); running APIs refuse it within "
        f"{settings.api_key_cache_s:g}s"
    )


def _describe(key: ApiKey) -> str:
    rate = f", {key.rate_per_s:g} events/s" if key.rate_per_s is not None else ""
    named = f", {key.name!r}" if key.name else ""
    return f"{','.join(sorted(key.scopes))}{rate}{named}"


@contextmanager
def _registry() -> Iterator[PostgresKeyRegistry]:
    from eventpulse.interfaces.local_services import with_servers

    with ExitStack() as stack:
        settings = Settings()
        if settings.database_url is None:  # the embedded one, as `db upgrade` does
            settings = with_servers(settings.model_copy(update={"redis_url": "unused"}), stack)
        assert settings.database_url is not None
        yield stack.enter_context(PostgresKeyRegistry.connect(settings.database_url))


@contextmanager
def _failures() -> Iterator[None]:
    try:
        yield
    except InvalidInput as exc:
        for error in exc.errors:
            typer.echo(f"--{error.field}: {error.message}", err=True)
        raise typer.Exit(2) from None
    except (NotFound, StoreUnavailable) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
