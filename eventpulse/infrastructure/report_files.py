"""The runs of anomaly reports on the filesystem (the `ReportIndex` of application/report_index.py).

Layout under the root (`EVENTPULSE_HOME/reports`, or `eventpulse report --out DIR`):

    index.jsonl                        one JSON object per line, appended, never rewritten
    2026-11-27/<run_id>.ipynb          the executed notebook (kept when the run failed)
    2026-11-27/<run_id>.html           the rendered report (absent when nothing rendered)
    .locks/                            lock files (the scheduler's, one per schedule)

The folder is the UTC date the run started. The index has one line per state change of a run:
`running` when it starts, then `ok` or `failed`; each line is the whole run (request, times,
paths relative to the root, error), and readers fold the lines by `run_id`, the last one
winning, except that a finished run is final (a later `running` line for it is ignored).

- **Concurrent writers** (the scheduler, its report children, a CLI run by hand) append under an
  exclusive `fcntl.flock` of the index, one `write` per line, so lines never interleave; readers
  take a shared lock. A line torn by a crash (no newline at the end of the file) is ended by the
  next writer before it appends, and readers skip any line that is not a run record.
- **Abandoned runs.** Each line names its writer: host, pid and the process's start time (from
  `/proc`, so a recycled pid is not mistaken for the writer). A run still `running` whose writer
  on this host is gone is reported as `failed` with the error `abandoned: …`; readers do not
  write. Runs written on another host cannot be checked that way: they are reported abandoned
  once older than `stale_after_s` (when given). The scheduler records its own children's end
  (interfaces/scheduler.py), so abandoned runs come only from a writer killed together with
  whatever watched it.
- **Paths.** Run ids are checked (application/report_index.py) before they name a file, and a
  path read from the index is used only if it stays under the root.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import orjson

from eventpulse.application.report_index import ReportQuery, position, valid_run_id
from eventpulse.application.reports import ReportRequest, ReportRun, RunStatus

log = logging.getLogger("eventpulse.reports")

INDEX: Final = "index.jsonl"
LOCKS: Final = ".locks"
_VERSION: Final = 1
_HOST: Final = socket.gethostname()


def reports_root(home: Path) -> Path:
    """Where `EVENTPULSE_HOME`'s reports live."""
    return home.resolve() / "reports"


@dataclass(frozen=True, slots=True)
class Writer:
    """The process that wrote an index line."""

    host: str
    pid: int
    started: str | None  # the process's start time in clock ticks since boot (Linux), or None

    @classmethod
    def current(cls) -> Writer:
        pid = os.getpid()
        return cls(_HOST, pid, process_start(pid))

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
    if writer.get("host") != _HOST or not isinstance(writer.get("pid"), int):
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


class FileReportStore:
    """Runs' files and the append-only index under `root` (created on first write)."""

    def __init__(
        self,
        root: Path,
        *,
        stale_after_s: float | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.root = root
        self.index = root / INDEX
        self._stale_after_s = stale_after_s
        self._clock = clock
        self._cache = _Folded()
        self._lock = threading.Lock()

    # --- writing ---

    def start(self, request: ReportRequest, run_id: str, started_at: datetime) -> ReportRun:
        if not valid_run_id(run_id):
            raise ValueError(f"not a valid run id: {run_id!r}")
        started_at = started_at.astimezone(UTC)
        folder = self.root / f"{started_at:%Y-%m-%d}"
        folder.mkdir(parents=True, exist_ok=True)
        run = ReportRun(
            run_id=run_id,
            request=request,
            status=RunStatus.RUNNING,
            started_at=started_at,
            notebook=folder / f"{run_id}.ipynb",
            html=folder / f"{run_id}.html",
        )
        self._append(run)
        return run

    def finish(self, run: ReportRun) -> None:
        self._append(run)

    def fail(
        self,
        request: ReportRequest,
        run_id: str,
        started_at: datetime,
        reason: str,
        *,
        finished_at: datetime | None = None,
    ) -> bool:
        """Record the run as failed with `reason` unless it is recorded as finished already
        (and as started first if it is not recorded at all): for a run whose process ended
        without recording its outcome. Whether this call recorded it."""
        run = self.recorded(run_id)
        if run is not None and run.status is not RunStatus.RUNNING:
            return False
        if run is None:
            run = self.start(request, run_id, started_at)
        end = (finished_at or self._clock()).astimezone(UTC)
        html = self.existing(run.html)
        self.finish(
            replace(
                run,
                status=RunStatus.FAILED,
                html=None if html is None else run.html,
                finished_at=end,
                duration_s=max(0.0, (end - run.started_at).total_seconds()),
                error=reason,
            )
        )
        return True

    def settle_abandoned(self) -> list[str]:
        """Record every abandoned run (see the module's docstring) as failed, with the reason
        readers give it; the ids of those runs."""
        settled = []
        for run_id in list(self._records()):
            recorded, seen = self.recorded(run_id), self.get(run_id)
            if recorded is None or seen is None or recorded.status is not RunStatus.RUNNING:
                continue
            if seen.status is RunStatus.FAILED:
                self.finish(seen)
                settled.append(run_id)
        return settled

    def _append(self, run: ReportRun) -> None:
        line = orjson.dumps(self._record(run)) + b"\n"
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.index, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = b"\n" + line  # end a line torn by a writer that died mid-write
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)  # releases the lock

    def _record(self, run: ReportRun) -> dict[str, Any]:
        request = run.request
        return {
            "v": _VERSION,
            "run_id": run.run_id,
            "status": str(run.status),
            "title": request.title,
            "since": request.since.astimezone(UTC).isoformat(),
            "until": request.until.astimezone(UTC).isoformat(),
            "rule_ids": list(request.rule_ids),
            "schedule": request.schedule,
            "started_at": run.started_at.astimezone(UTC).isoformat(),
            "finished_at": None if run.finished_at is None else run.finished_at.isoformat(),
            "duration_s": run.duration_s,
            "error": run.error,
            "notebook": self._relative(run.notebook),
            "html": None if run.html is None else self._relative(run.html),
            "writer": Writer.current().as_dict(),
            "extra": dict(run.extra),
        }

    def _relative(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    # --- reading ---

    def get(self, run_id: str) -> ReportRun | None:
        if not valid_run_id(run_id):
            return None
        record = self._records().get(run_id)
        return None if record is None else self._run(record)

    def recorded(self, run_id: str) -> ReportRun | None:
        """The run as its last index line says (a `running` run is not checked for being
        abandoned)."""
        record = self._records().get(run_id) if valid_run_id(run_id) else None
        if record is None:
            return None
        try:
            return self._parse(record)
        except (KeyError, TypeError, ValueError):
            return None

    def runs(self, limit: int = 100) -> Sequence[ReportRun]:
        return self.query(ReportQuery(limit))

    def query(self, query: ReportQuery) -> Sequence[ReportRun]:
        runs = (self._run(record) for record in self._records().values())
        chosen = [
            run
            for run in runs
            if run is not None
            and (query.status is None or run.status is query.status)
            and (query.schedule is None or run.request.schedule == query.schedule)
            and (query.before is None or position(run) < query.before)
        ]
        chosen.sort(key=position, reverse=True)
        return chosen[: query.limit]

    def last_fire_times(self) -> dict[str, datetime]:
        latest: dict[str, datetime] = {}
        for record in self._records().values():
            run = self._run(record)
            if run is None or run.request.schedule is None:
                continue
            name, until = run.request.schedule, run.request.until
            if name not in latest or until > latest[name]:
                latest[name] = until
        return latest

    def existing(self, path: Path | None) -> Path | None:
        """`path` if it is a file under the root (a run's notebook or HTML), else None."""
        if path is None:
            return None
        try:
            resolved = path.resolve()
        except OSError:
            return None
        if not resolved.is_relative_to(self.root.resolve()) or not resolved.is_file():
            return None
        return resolved

    def _records(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return dict(self._cache.refresh(self.index))  # a copy: other threads refresh it

    def _run(self, record: dict[str, Any]) -> ReportRun | None:
        try:
            run = self._parse(record)
        except (KeyError, TypeError, ValueError) as exc:
            log.debug("index %s: skipping a malformed record %.200r: %s", self.index, record, exc)
            return None
        if run.status is RunStatus.RUNNING:
            reason = self._abandoned(record, run)
            if reason is not None:
                run = replace(run, status=RunStatus.FAILED, error=reason)
        return run

    def _abandoned(self, record: dict[str, Any], run: ReportRun) -> str | None:
        writer = record.get("writer") or {}
        alive = writer_alive(writer)
        where = f"pid {writer.get('pid')} on {writer.get('host')}"
        if alive is False:
            return f"abandoned: its process ({where}) is gone"
        if alive is None and self._stale_after_s is not None:
            age = (self._clock() - run.started_at).total_seconds()
            if age > self._stale_after_s:
                return f"abandoned: still running after {age:.0f}s ({where})"
        return None

    def _parse(self, record: dict[str, Any]) -> ReportRun:
        run_id = record["run_id"]
        if not isinstance(run_id, str) or not valid_run_id(run_id):
            raise ValueError("invalid run id")
        request = ReportRequest(
            since=_time(record["since"]),
            until=_time(record["until"]),
            rule_ids=tuple(str(r) for r in record.get("rule_ids") or ()),
            title=str(record["title"]),
            schedule=record.get("schedule"),
        )
        finished = record.get("finished_at")
        duration = record.get("duration_s")
        notebook = self._path(record.get("notebook"), run_id, ".ipynb")
        if notebook is None:
            raise ValueError("no notebook path")
        return ReportRun(
            run_id=run_id,
            request=request,
            status=RunStatus(record["status"]),
            started_at=_time(record["started_at"]),
            notebook=notebook,
            html=self._path(record.get("html"), run_id, ".html"),
            finished_at=None if finished is None else _time(finished),
            duration_s=None if duration is None else float(duration),
            error=record.get("error"),
            extra=dict(record.get("extra") or {}),
        )

    def _path(self, relative: Any, run_id: str, suffix: str) -> Path | None:
        """A path of the index, if it names this run's file under the root."""
        if not isinstance(relative, str):
            return None
        path = self.root / relative
        if path.name != f"{run_id}{suffix}" or ".." in Path(relative).parts:
            return None
        if Path(relative).is_absolute() and not path.is_relative_to(self.root):
            return None
        return path


def _time(text: Any) -> datetime:
    if not isinstance(text, str):
        raise TypeError("expected a timestamp")
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("timestamp without an offset")
    return moment.astimezone(UTC)


class _Folded:
    """The index folded by run id, read incrementally: the file only grows, so each refresh
    reads the complete lines appended since the last one (a new file is read whole)."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        self.offset = 0
        self.inode: int | None = None

    def reset(self, inode: int | None = None) -> None:
        self.records, self.offset, self.inode = {}, 0, inode

    def refresh(self, index: Path) -> dict[str, dict[str, Any]]:
        try:
            handle = index.open("rb")
        except FileNotFoundError:
            self.reset()
            return self.records
        with handle:
            stat = os.fstat(handle.fileno())
            if stat.st_ino != self.inode or stat.st_size < self.offset:
                self.reset(stat.st_ino)  # a new or truncated index: read it whole
            if stat.st_size == self.offset:
                return self.records
            with _shared(handle.fileno()):
                handle.seek(self.offset)
                data = handle.read()
            end = data.rfind(b"\n") + 1  # a last line without its newline is still being written
            for line in data[:end].splitlines():
                self._fold(line)
            self.offset += end
        return self.records

    def _fold(self, line: bytes) -> None:
        if not line.strip():
            return
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            record = None
        if not isinstance(record, dict) or not isinstance(record.get("run_id"), str):
            log.warning("report index: skipping a line that is not a run record: %.80r", line)
            return
        known = self.records.get(record["run_id"])
        if known is not None and known.get("status") != str(RunStatus.RUNNING):
            return  # a finished run is final
        self.records[record["run_id"]] = record


@contextlib.contextmanager
def _shared(fd: int) -> Iterator[None]:
    fcntl.flock(fd, fcntl.LOCK_SH)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
