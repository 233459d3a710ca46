"""`eventpulse lab` (and `eventpulse up --lab`): JupyterLab on the workbench notebooks.

The notebooks name the kernel `eventpulse`: this environment's Python, registered under
`sys.prefix` (so the registration belongs to this virtualenv and is found by its JupyterLab,
papermill and nbval). A kernel inherits the server's environment, so the `EVENTPULSE_*`
variables `eventpulse up` gives its children reach `Workbench.connect()` in the notebooks.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Final

KERNEL_NAME: Final = "eventpulse"
KERNEL_DISPLAY_NAME: Final = "EventPulse (Python 3)"


def register_kernel(prefix: str | Path = sys.prefix) -> Path:
    """Register (or refresh) the `eventpulse` kernel for this Python; its kernelspec folder."""
    from ipykernel.kernelspec import install

    return Path(
        install(kernel_name=KERNEL_NAME, display_name=KERNEL_DISPLAY_NAME, prefix=str(prefix))
    )


def lab_argv(notebooks: Path, *, host: str, port: int) -> list[str]:
    """JupyterLab's options: serve `notebooks`, open no browser, the `eventpulse` kernel.

    As root (containers, CI) JupyterLab refuses to start unless told to allow it: it is told,
    since `eventpulse up` runs what it runs as its own user anyway."""
    argv = [
        "--no-browser",
        f"--ServerApp.root_dir={notebooks.resolve()}",
        f"--ServerApp.ip={host}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--MappingKernelManager.default_kernel_name={KERNEL_NAME}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        argv.append("--ServerApp.allow_root=True")
    return argv


def run_lab(notebooks: Path, *, host: str, port: int) -> None:
    """Register the kernel, then run JupyterLab in this process until it is stopped."""
    from jupyterlab.labapp import LabApp

    register_kernel()
    LabApp.launch_instance(argv=lab_argv(notebooks, host=host, port=port))
