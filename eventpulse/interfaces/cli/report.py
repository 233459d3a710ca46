"""`eventpulse report --since --until [--rules a,b] [--title T] [--out DIR]`: one anomaly report.

Runs the report notebook (`EVENTPULSE_REPORT_NOTEBOOK`, or `--notebook`) with papermill on the
`eventpulse` kernel, renders it to self-contained HTML and records the run in the reports folder
(`EVENTPULSE_HOME/reports`, or `--out`; infrastructure/report_files.py). Prints the run id, its
status and duration and the paths; exits 0 when the run is ok, 1 when it failed (the executed
notebook is kept, and whatever could be rendered), 2 for bad options.

The kernel inherits this process's environment, with the servers resolved first (the configured
URLs, or the embedded servers under `EVENTPULSE_HOME`, started if none runs) and `EVENTPULSE_HOME`
made absolute, so `Workbench.connect()` in the notebook reaches the same stack whatever its
working directory. `--schedule`, `--run-id` and `--started-at` are for `eventpulse scheduler`,
which names the run and its start (hence its folder) before starting this command in a child
process.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import signal
import sys
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from eventpulse.application.report_index import valid_run_id
from eventpulse.application.reports import (
    DEFAULT_TITLE,
    ReportRequest,
    ReportRun,
    RunReport,
    RunStatus,
    new_run_id,
)
from eventpulse.application.rule_ids import is_rule_id
from eventpulse.infrastructure.report_files import LOCKS, FileReportStore, reports_root
from eventpulse.infrastructure.settings import Settings

log = logging.getLogger("eventpulse.report")


class Terminated(BaseException):
    """SIGTERM arrived during the run (the scheduler stops it, or a person does)."""


def report(
    since: Annotated[str, typer.Option(help="Range start, RFC 3339 with offset (inclusive).")],
    until: Annotated[str, typer.Option(help="Range end, RFC 3339 with offset (exclusive).")],
    rules: Annotated[
        list[str] | None,
        typer.Option(
            "--rules", help="Rule ids, comma-separated or repeated (default: every rule)."
        ),
    ] = None,
    title: Annotated[str, typer.Option(help="The report's title.")] = DEFAULT_TITLE,
    out: Annotated[
        Path | None,
        typer.Option(file_okay=False, help="Reports folder (default: EVENTPULSE_HOME/reports)."),
    ] = None,
    notebook: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="Report notebook (default: EVENTPULSE_REPORT_NOTEBOOK).",
        ),
    ] = None,
    schedule: Annotated[str | None, typer.Option(hidden=True)] = None,
    run_id: Annotated[str | None, typer.Option("--run-id", hidden=True)] = None,
    started_at: Annotated[str | None, typer.Option("--started-at", hidden=True)] = None,
) -> None:
    """Run the anomaly report over [SINCE, UNTIL) and render it to HTML."""
    request = ReportRequest(
        since=_moment(since, "--since"),
        until=_moment(until, "--until"),
        rule_ids=_rule_ids(rules or []),
        title=_title(title),
        schedule=schedule,
    )
    if request.until <= request.since:
        raise typer.BadParameter("must be after --since", param_hint="--until")
    if run_id is not None and not valid_run_id(run_id):
        raise typer.BadParameter("letters, digits, '_' and '-' (1..100)", param_hint="--run-id")
    started = None if started_at is None else _moment(started_at, "--started-at")
    settings = Settings()
    store = FileReportStore((out or reports_root(settings.home)).resolve())
    if run_id is not None and store.recorded(run_id) is not None:
        raise typer.BadParameter(f"{run_id!r} is in the index already", param_hint="--run-id")
    run_id = run_id or new_run_id(started or datetime.now(UTC))
    run = run_report(settings, store, request, notebook, run_id, started)
    _print(run)
    if run.status is not RunStatus.OK:
        raise typer.Exit(1)


def run_report(
    settings: Settings,
    store: FileReportStore,
    request: ReportRequest,
    notebook: Path | None,
    run_id: str,
    started_at: datetime | None = None,
) -> ReportRun:
    """Resolve the servers, make sure of the kernel, run; a run that ends unexpectedly (an
    error outside the notebook, SIGTERM, Ctrl-C) is recorded as failed before this returns or
    raises. `started_at`: when the scheduler started the run (default: now)."""
    from eventpulse.infrastructure.papermill_reports import PapermillExecutor
    from eventpulse.infrastructure.report_html import NbconvertRenderer

    previous = signal.signal(signal.SIGTERM, _terminate)
    started = datetime.now(UTC) if started_at is None else started_at
    try:
        with ExitStack() as stack:
            _environment_for_the_kernel(settings, stack)
            if settings.report_kernel == _kernel_name():
                ensure_kernel(store.root / LOCKS / "kernel.lock")
            executor = PapermillExecutor(
                (notebook or settings.report_notebook).resolve(),
                kernel_name=settings.report_kernel,
                start_timeout_s=settings.report_start_timeout_s,
                execution_timeout_s=settings.report_execution_timeout_s,
            )
            log.info("report %s: %s", run_id, json.dumps(request.parameters()))
            return RunReport(store, executor, NbconvertRenderer())(request, run_id, started)
    except (Exception, Terminated, KeyboardInterrupt) as exc:
        reason = "stopped by SIGTERM" if isinstance(exc, Terminated) else _describe(exc)
        store.fail(request, run_id, started, reason)
        if isinstance(exc, Exception):
            return _recorded(store, run_id)
        raise typer.Exit(143 if isinstance(exc, Terminated) else 130) from None
    finally:
        signal.signal(signal.SIGTERM, previous)


def ensure_kernel(lock: Path) -> None:
    """Register the `eventpulse` kernel for this Python unless it is already; under a file
    lock, since the registration replaces a folder and runs may start together."""
    from eventpulse.interfaces.lab import register_kernel

    if _kernel_registered():
        return
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        if not _kernel_registered():
            register_kernel()


def _kernel_name() -> str:
    from eventpulse.interfaces.lab import KERNEL_NAME

    return KERNEL_NAME


def _kernel_registered() -> bool:
    spec = Path(sys.prefix) / "share" / "jupyter" / "kernels" / _kernel_name() / "kernel.json"
    try:
        argv = json.loads(spec.read_text())["argv"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return isinstance(argv, list) and bool(argv) and argv[0] == sys.executable


def _environment_for_the_kernel(settings: Settings, stack: ExitStack) -> None:
    from eventpulse.interfaces.local_services import child_environment, with_servers

    resolved = with_servers(settings, stack)
    os.environ.update(child_environment(resolved))


def _recorded(store: FileReportStore, run_id: str) -> ReportRun:
    run = store.get(run_id)
    assert run is not None, "recorded above"
    return run


def _terminate(signum: int, _: FrameType | None) -> None:
    raise Terminated


def _describe(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:300]


def _moment(text: str, option: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None or moment.utcoffset() is None:
        raise typer.BadParameter(
            f"{text!r}: expected RFC 3339 with an offset, e.g. 2014-02-01T00:00:00Z",
            param_hint=option,
        )
    return moment.astimezone(UTC)


def _rule_ids(values: list[str]) -> tuple[str, ...]:
    found = [part.strip() for value in values for part in value.split(",") if part.strip()]
    for rule_id in found:
        if not is_rule_id(rule_id):
            raise typer.BadParameter(f"{rule_id!r} is not a rule id", param_hint="--rules")
    return tuple(dict.fromkeys(found))


def _title(title: str) -> str:
    if not title.strip():
        raise typer.BadParameter("must not be empty", param_hint="--title")
    return title


def _print(run: ReportRun) -> None:
    duration = "" if run.duration_s is None else f" in {run.duration_s:.1f}s"
    typer.echo(f"run {run.run_id}: {run.status}{duration}")
    if run.error:
        typer.echo(f"  error     {run.error}")
    typer.echo(f"  notebook  {run.notebook if run.notebook.exists() else '(none)'}")
    typer.echo(f"  html      {run.html if run.html is not None else '(none)'}")
