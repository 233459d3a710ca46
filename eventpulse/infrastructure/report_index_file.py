"""The report index file, `index.jsonl`: appending a line, and the runs it holds, folded by run
id and kept up to date by reading only what was appended since the last read.

- **Appending.** Writers append under an exclusive `fcntl.flock`, one `write` per line, so
  lines never interleave; a line torn by a crash (no newline at the end of the file) is ended
  before the next line is appended.
- **Reading.** Each line is parsed once, when first read: `FoldedIndex.refresh` costs one
  `stat` when nothing was appended, reads (under a shared lock) only the complete lines appended
  since, and reads the file whole again when it was replaced (another inode) or cut short. A
  line that is not a run record is skipped; a run's last line wins, except that a finished run
  is final (a later line for it is ignored). The runs are kept in order of (`started_at`,
  `run_id`), with the ids still `running` and each schedule's latest fire time (`until`).
"""

from __future__ import annotations

import bisect
import contextlib
import fcntl
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from eventpulse.application.reports import ReportRun, RunStatus

log = logging.getLogger("eventpulse.reports")

Position = tuple[datetime, str]


def append_line(index: Path, line: bytes) -> None:
    """Append one complete line (ending with a newline), durably."""
    index.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(index, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line  # end a line torn by a writer that died mid-write
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)  # releases the lock


@dataclass(frozen=True, slots=True)
class Entry:
    """A run as its last line records it, and that line's writer."""

    run: ReportRun
    writer: Mapping[str, Any]

    @property
    def position(self) -> Position:
        return self.run.started_at, self.run.run_id


@dataclass
class _Folded:
    entries: dict[str, Entry] = field(default_factory=dict)
    order: list[Position] = field(default_factory=list)  # ascending
    running: set[str] = field(default_factory=set)
    latest: dict[str, datetime] = field(default_factory=dict)  # schedule -> latest `until`


class FoldedIndex:
    """The runs of one index file; `parse` turns a decoded line into a run (raising ValueError,
    KeyError or TypeError for a line that is not one). Not thread-safe: callers lock."""

    def __init__(self, path: Path, parse: Callable[[Mapping[str, Any]], ReportRun]) -> None:
        self.path = path
        self._parse = parse
        self._state = _Folded()
        self._offset = 0
        self._inode: int | None = None

    def refresh(self) -> None:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            self._reset(None)
            return
        if stat.st_ino == self._inode and stat.st_size == self._offset:
            return
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            self._reset(None)
            return
        with handle:
            stat = os.fstat(handle.fileno())
            if stat.st_ino != self._inode or stat.st_size < self._offset:
                self._reset(stat.st_ino)  # a new or shortened index: read it whole
            with _shared(handle.fileno()):
                handle.seek(self._offset)
                data = handle.read()
        end = data.rfind(b"\n") + 1  # a last line without its newline is still being written
        self._fold(data[:end].splitlines())
        self._offset += end

    def get(self, run_id: str) -> Entry | None:
        return self._state.entries.get(run_id)

    def newest_first(self, before: Position | None = None) -> Iterator[Entry]:
        """The runs by descending (`started_at`, `run_id`), strictly before `before` if given."""
        state = self._state
        end = len(state.order) if before is None else bisect.bisect_left(state.order, before)
        for i in range(end - 1, -1, -1):
            yield state.entries[state.order[i][1]]

    def running(self) -> list[Entry]:
        return [self._state.entries[run_id] for run_id in sorted(self._state.running)]

    def latest_fire_times(self) -> dict[str, datetime]:
        return dict(self._state.latest)

    def _reset(self, inode: int | None) -> None:
        self._state, self._offset, self._inode = _Folded(), 0, inode

    def _fold(self, lines: list[bytes]) -> None:
        state, added = self._state, list[Position]()
        for line in lines:
            entry = self._entry(line)
            if entry is None:
                continue
            run = entry.run
            known = state.entries.get(run.run_id)
            if known is not None and known.run.status is not RunStatus.RUNNING:
                continue  # a finished run is final
            moved = known is not None and known.position != entry.position
            if known is not None and moved:  # a line with another start time: keep one place
                (added if known.position in added else state.order).remove(known.position)
            if known is None or moved:
                added.append(entry.position)
            state.entries[run.run_id] = entry
            if run.status is RunStatus.RUNNING:
                state.running.add(run.run_id)
            else:
                state.running.discard(run.run_id)
            schedule, until = run.request.schedule, run.request.until
            if schedule is not None and (
                schedule not in state.latest or until > state.latest[schedule]
            ):
                state.latest[schedule] = until
        added.sort()
        late = bool(added and state.order and added[0] < state.order[-1])
        state.order.extend(added)
        if late:  # started before runs already read (concurrent writers): rarely far back
            state.order.sort()

    def _entry(self, line: bytes) -> Entry | None:
        if not line.strip():
            return None
        try:
            record = orjson.loads(line)
            if not isinstance(record, dict):
                raise TypeError("not a JSON object")
            run = self._parse(record)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            log.warning(
                "report index %s: skipping a line that is not a run (%s): %.80r",
                self.path,
                exc,
                line,
            )
            return None
        writer = record.get("writer")
        return Entry(run, writer if isinstance(writer, dict) else {})


@contextlib.contextmanager
def _shared(fd: int) -> Iterator[None]:
    fcntl.flock(fd, fcntl.LOCK_SH)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
