"""`PapermillExecutor`: runs the report notebook with its parameters under papermill.

An explicit kernel (the `eventpulse` kernel `eventpulse lab` registers: this environment's
Python), a start-up timeout and a per-cell execution timeout. The kernel inherits this
process's environment, so the `EVENTPULSE_*` settings reach `Workbench.connect()`.

Whatever stops the run — a cell that raises, a cell over its timeout, a kernel that is missing,
does not start or dies — becomes `ReportFailed` with a one-line reason, and the executed
notebook (the cells that ran, with their outputs) is at `output` all the same: papermill saves
it after every cell and once more at the end, marking a cell error; a cell that timed out or
lost its kernel is marked here with an error output, so the rendered page shows where it stopped.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import nbformat

from eventpulse.application.reports import ReportFailed

KERNEL_NAME: Final = "eventpulse"
_MAX_REASON: Final = 300


class PapermillExecutor:
    """The `NotebookExecutor` port. `execution_timeout_s` bounds each cell; `cwd` (default:
    the notebook's folder) is the kernel's working directory."""

    def __init__(
        self,
        notebook: Path,
        *,
        kernel_name: str = KERNEL_NAME,
        start_timeout_s: float,
        execution_timeout_s: float,
        cwd: Path | None = None,
    ) -> None:
        self.notebook = notebook.resolve()
        self.kernel_name = kernel_name
        self.start_timeout_s = start_timeout_s
        self.execution_timeout_s = execution_timeout_s
        self.cwd = (cwd or self.notebook.parent).resolve()

    def execute(self, output: Path, parameters: Mapping[str, Any]) -> None:
        import papermill
        from papermill.exceptions import PapermillExecutionError

        output.parent.mkdir(parents=True, exist_ok=True)
        try:
            papermill.execute_notebook(
                str(self.notebook),
                str(output),
                parameters=dict(parameters),
                kernel_name=self.kernel_name,
                cwd=str(self.cwd),
                start_timeout=_whole_seconds(self.start_timeout_s),
                execution_timeout=_whole_seconds(self.execution_timeout_s),
                progress_bar=False,
            )
        except PapermillExecutionError as exc:
            raise ReportFailed(_cell_failure(exc)) from exc
        except Exception as exc:  # a timeout, no such kernel, a dead kernel, papermill itself
            reason = _failure(exc, _whole_seconds(self.execution_timeout_s))
            if output.exists():
                with contextlib.suppress(OSError, ValueError):  # keep the reason we have
                    reason = _mark_stopped_cell(output, type(exc).__name__, reason)
            raise ReportFailed(_one_line(reason)) from exc


def _whole_seconds(seconds: float) -> int:
    """nbclient takes its timeouts as whole seconds (an integer trait refuses 2.5)."""
    return max(1, math.ceil(seconds))


def _cell_failure(exc: Any) -> str:
    where = _cell_name(exc.cell_index, exc.exec_count, str(exc.source or ""))
    return _one_line(f"{where} raised {exc.ename}: {exc.evalue}")


def _failure(exc: Exception, execution_timeout_s: int) -> str:
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    if isinstance(exc, CellTimeoutError):
        return f"ran longer than the {execution_timeout_s}s execution timeout"
    if isinstance(exc, DeadKernelError):
        return "the kernel died"
    return f"{type(exc).__name__}: {exc}"


def _mark_stopped_cell(output: Path, ename: str, reason: str) -> str:
    """Give the cell that was running when the run stopped an error output; the reason with
    that cell named (when one had started)."""
    notebook = nbformat.read(output, nbformat.NO_CONVERT)  # type: ignore[no-untyped-call]
    started = [
        (index, cell)
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and cell.metadata.get("papermill", {}).get("start_time")
    ]
    if not started:
        return reason
    index, cell = started[-1]
    reason = f"{_cell_name(index, cell.execution_count, cell.source)} {reason}"
    error = nbformat.v4.new_output(  # type: ignore[no-untyped-call]
        "error", ename=ename, evalue=reason, traceback=[reason]
    )
    cell.outputs.append(error)
    cell.metadata.papermill.update(exception=True, status="failed")
    notebook.metadata.setdefault("papermill", {})["exception"] = True
    nbformat.write(notebook, output)  # type: ignore[no-untyped-call]
    return reason


def _cell_name(index: int, exec_count: int | None, source: str) -> str:
    first = _first_code_line(source)
    return f"cell {index} (In [{exec_count or ' '}]{': ' + first if first else ''})"


def _first_code_line(source: str) -> str:
    for line in source.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return stripped if len(stripped) <= 60 else stripped[:59] + "…"
    return ""


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _MAX_REASON else line[: _MAX_REASON - 1] + "…"
