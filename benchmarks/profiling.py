"""Optional py-spy sampling of product processes under load (`--profile DIR`).

Each profile is written as collapsed stacks (`DIR/NAME.txt`, one `frame;frame;… count` line
per stack: speedscope, inferno or flamegraph.pl draw it), and summarised in RESULTS.md as the
frames where the process spent its own time.
"""

from __future__ import annotations

import collections
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from benchmarks.environment import Process, running
from benchmarks.report import Results

_ROOT = re.escape(str(Path(__file__).resolve().parents[1]))
_SITE = re.compile(rf"\((?:\S*/site-packages/|\S*/lib/python3\.\d+/|{_ROOT}/)")


def py_spy() -> str | None:
    found = shutil.which("py-spy")
    local = Path(sys.executable).parent / "py-spy"
    return found or (str(local) if local.exists() else None)


@contextmanager
def profiled(
    profile_dir: Path | None, process: Process, name: str, seconds: float, results: Results
) -> Iterator[None]:
    """Sample `process` for `seconds` while the body runs, if profiling was asked for."""
    spy = py_spy()
    if profile_dir is None or spy is None:
        yield
        return
    profile_dir.mkdir(parents=True, exist_ok=True)
    output = profile_dir / f"{name}.txt"
    argv = [
        spy, "record", "--pid", str(process.pid), "--duration", str(max(1, round(seconds))),
        "--rate", "250", "--nonblocking", "--format", "raw", "--output", str(output),
    ]  # fmt: skip
    with running(argv, dict(os.environ), profile_dir / f"{name}.log") as spy_process:
        yield
        with suppress(subprocess.TimeoutExpired):
            spy_process.popen.wait(seconds + 30)
    if output.exists():
        results.details[f"py-spy {name} (own time, top frames)"] = summary(output)


def summary(path: Path, top: int = 8) -> str:
    """The frames with the most samples of their own (leaf frames), as percentages."""
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        leaf = _SITE.sub("(", stack.rsplit(";", 1)[-1])
        own[leaf] += int(count)
        total += int(count)
    if not total:
        return "no samples"
    return "; ".join(f"{100 * n / total:.0f}% {frame}" for frame, n in own.most_common(top))
