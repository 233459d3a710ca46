"""Who wrote a line of the report index, and whether that writer is gone: abandoned runs.

Each index line names its writer: host, pid and the process's start time (from `/proc`, so a
recycled pid is not mistaken for the writer). A run still `running` whose writer on this host
is gone reads as `failed` with the error `abandoned: …`. Runs written on another host cannot be
checked that way: they read abandoned once older than `stale_after_s` (when given).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

HOST: Final = socket.gethostname()


@dataclass(frozen=True, slots=True)
class Writer:
    """The process that wrote an index line."""

    host: str
    pid: int
    started: str | None  # the process's start time in clock ticks since boot (Linux), or None

    @classmethod
    def current(cls) -> Writer:
        pid = os.getpid()
        return cls(HOST, pid, process_start(pid))

    def as_dict(self) -> dict[str, Any]:
        return {"host": self.host, "pid": self.pid, "started": self.started}


def process_start(pid: int) -> str | None:
    """A process's start time from /proc (None without /proc, or when it is gone or a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()  # after "pid (comm) "
    if not fields or fields[0] == "Z":
        return None
    return fields[19] if len(fields) > 19 else None


def writer_alive(writer: Mapping[str, Any]) -> bool | None:
    """Whether the writer of a line still runs: None when that cannot be told (another host)."""
    if writer.get("host") != HOST or not isinstance(writer.get("pid"), int):
        return None
    pid: int = writer["pid"]
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: it exists
    if Path("/proc/self/stat").exists():
        started = process_start(pid)
        return started is not None and (writer.get("started") in (None, started))
    return True


def abandoned(
    writer: Mapping[str, Any], started_at: datetime, now: datetime, stale_after_s: float | None
) -> str | None:
    """Why a run recorded `running` by `writer` is abandoned, or None while it may still run."""
    alive = writer_alive(writer)
    where = f"pid {writer.get('pid')} on {writer.get('host')}"
    if alive is False:
        return f"abandoned: its process ({where}) is gone"
    if alive is None and stale_after_s is not None:
        age = (now - started_at).total_seconds()
        if age > stale_after_s:
            return f"abandoned: still running after {age:.0f}s ({where})"
    return None
