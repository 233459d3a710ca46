"""`eventpulse`: one entry point for every process and tool of the product."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from eventpulse.infrastructure.settings import Settings
from eventpulse.interfaces.cli.backtest import backtest
from eventpulse.interfaces.cli.keys import keys
from eventpulse.interfaces.cli.process import prepare_process
from eventpulse.interfaces.cli.report import report
from eventpulse.interfaces.cli.rules import rules

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help=__doc__, pretty_exceptions_show_locals=False
)
db = typer.Typer(no_args_is_help=True, help="Database schema.")
app.add_typer(db, name="db")
app.add_typer(rules, name="rules")
app.add_typer(keys, name="keys")
app.command("backtest")(backtest)
app.command("report")(report)


@app.callback()
def _process(ctx: typer.Context) -> None:
    # Logging and the metrics directory, before the command imports anything that counts.
    prepare_process(ctx.invoked_subcommand)


AllowUnauthenticated = Annotated[
    bool,
    typer.Option(
        "--allow-unauthenticated",
        help="Listen on a non-loopback host while no API key exists (anyone may call the API).",
    ),
]


def _settings() -> Settings:
    return Settings()


@app.command()
def up(
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    host: Annotated[str, typer.Option(help="API bind address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="API port.")] = 8000,
    allow_unauthenticated: AllowUnauthenticated = False,
    seed: Annotated[
        bool, typer.Option("--seed", help="Load the sample data and example rules (idempotent).")
    ] = False,
    lab: Annotated[bool, typer.Option("--lab", help="Also run JupyterLab on notebooks/.")] = False,
    lab_port: Annotated[int, typer.Option(help="JupyterLab port (with --lab).")] = 8888,
) -> None:
    """Run the whole product in the foreground: servers (embedded if no URLs), API, workers."""
    from eventpulse.interfaces.supervisor import UpOptions, run_up

    options = UpOptions(
        host=host, port=port, workers=workers, allow_unauthenticated=allow_unauthenticated
    )
    options = replace(options, seed=seed, lab=lab, lab_port=lab_port)
    raise typer.Exit(run_up(_settings(), options))


@app.command()
def lab(
    port: Annotated[int, typer.Option(help="JupyterLab port.")] = 8888,
    host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
    notebooks: Annotated[Path, typer.Option(help="Notebook folder.")] = Path("notebooks"),
) -> None:
    """JupyterLab on the workbench notebooks, with the `eventpulse` kernel registered."""
    from eventpulse.interfaces.lab import run_lab

    run_lab(notebooks, host=host, port=port)


@app.command()
def api(
    host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    allow_unauthenticated: AllowUnauthenticated = False,
) -> None:
    """Run one API process."""
    import uvicorn

    from eventpulse.interfaces.exposure import UnsafeExposure, check_exposure
    from eventpulse.interfaces.http.app import create_app

    with ExitStack() as stack:
        settings = _resolved(stack)
        if allow_unauthenticated:
            settings = settings.model_copy(update={"allow_unauthenticated": True})
        try:
            check_exposure(settings, host)
        except UnsafeExposure as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(2) from None
        uvicorn.run(
            create_app(settings),
            host=host,
            port=port,
            loop="uvloop",
            http="httptools",
            access_log=False,
            log_config=None,  # our handler (interfaces/logs.py) formats uvicorn's records too
            log_level="warning",
            timeout_graceful_shutdown=10,
        )


@app.command()
def worker(
    consumer: Annotated[
        str | None, typer.Option(help="Consumer name; keep it stable across restarts.")
    ] = None,
) -> None:
    """Run one worker: ingest stream → PostgreSQL."""
    from eventpulse.interfaces.worker import default_consumer_name, run_worker

    with ExitStack() as stack:
        settings = _resolved(stack)
        run_worker(settings, consumer or default_consumer_name())


@app.command()
def notifier(
    consumer: Annotated[
        str | None, typer.Option(help="Consumer name; keep it stable across restarts.")
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Only check the notification config, then exit.")
    ] = False,
) -> None:
    """Run one notifier: anomaly feed → Slack, e-mail, webhooks (EVENTPULSE_NOTIFICATIONS)."""
    from eventpulse.infrastructure.notify_config import InvalidNotificationConfig
    from eventpulse.interfaces.notifier import (
        default_consumer_name,
        load_notification_config,
        run_notifier,
    )

    try:
        config = load_notification_config(_settings())
    except InvalidNotificationConfig as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    if check:
        plan = config.plan
        typer.echo(f"{config.source}: {len(plan.channels)} channels, {len(plan.routes)} routes")
        return
    with ExitStack() as stack:
        settings = _resolved(stack)
        run_notifier(settings, consumer or default_consumer_name(), config)


@app.command()
def scheduler(
    check: Annotated[
        bool, typer.Option("--check", help="Only check the schedules config, then exit.")
    ] = False,
) -> None:
    """Run anomaly reports on the cron schedules of EVENTPULSE_REPORTS (never overlapping)."""
    from eventpulse.infrastructure.report_schedule_config import InvalidReportSchedules
    from eventpulse.interfaces.scheduler import load_report_schedules, run_scheduler

    settings = _settings()
    try:
        config = load_report_schedules(settings)
    except InvalidReportSchedules as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    if check:
        names = ", ".join(s.name for s in config.schedules) or "none"
        typer.echo(f"{config.source}: {len(config.schedules)} schedules ({names})")
        return
    run_scheduler(settings, config)


@db.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Create or upgrade the schema (alembic migrations)."""
    from eventpulse.infrastructure import schema

    with ExitStack() as stack:
        settings = _resolved(stack, redis=False)
        assert settings.database_url is not None
        schema.upgrade(settings.database_url, revision)
    typer.echo(f"schema at {revision}")


@app.command()
def ingest(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV or JSONL file.")],
    event_type: Annotated[str | None, typer.Option(help="event_type for rows without one.")] = None,
    source: Annotated[str | None, typer.Option(help="source for rows without one.")] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=10_000)] = 1000,
    api_url: Annotated[str | None, typer.Option(help="Defaults to EVENTPULSE_API_URL.")] = None,
) -> None:
    """Send a CSV/JSONL file of events through the HTTP API."""
    from eventpulse.interfaces.cli.api_client import auth_headers
    from eventpulse.interfaces.cli.ingest_file import send_file

    settings = _settings()
    report = send_file(
        file,
        api_url=api_url or settings.api_url,
        batch_size=batch_size,
        default_type=event_type or "metric",
        default_source=source or file.stem,
        headers=auth_headers(settings),
    )
    typer.echo(f"accepted {report.accepted}, rejected {report.rejected}")
    if report.rejected:
        raise typer.Exit(1)


def _resolved(stack: ExitStack, redis: bool = True) -> Settings:
    from eventpulse.interfaces.local_services import with_servers

    settings = _settings()
    if not redis and settings.database_url is None:
        return with_servers(settings.model_copy(update={"redis_url": "unused"}), stack)
    return with_servers(settings, stack)
