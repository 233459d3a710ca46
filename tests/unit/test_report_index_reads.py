"""Reading the index of report runs: each line is parsed once, however often the runs are read
(the API's list, the scheduler's checks, settling abandoned runs), only appended bytes are read
again, and an index replaced or cut short is read whole; a running run's files are not served
(papermill rewrites its notebook in place), and asking for them is a conflict naming the run."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from eventpulse.application.report_index import (
    ReportQuery,
    list_reports,
    report_file,
    served_file,
)
from eventpulse.application.reports import ReportRequest, ReportRun, RunStatus
from eventpulse.domain.errors import Conflict, NotFound
from eventpulse.infrastructure.report_files import FileReportStore

T0 = datetime(2024, 5, 1, 6, 0, tzinfo=UTC)
REQUEST = ReportRequest(
    since=datetime(2014, 2, 1, tzinfo=UTC),
    until=datetime(2014, 2, 2, tzinfo=UTC),
    title="Daily",
    schedule="daily",
)


def finished(run: ReportRun, status: RunStatus = RunStatus.OK) -> ReportRun:
    end = run.started_at + timedelta(seconds=2)
    return replace(run, status=status, finished_at=end, duration_s=2.0)


def ids(store: FileReportStore) -> list[str]:
    return [run.run_id for run in store.runs()]


def test_each_index_line_is_parsed_once_however_often_the_runs_are_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = FileReportStore(tmp_path)
    for i in range(20):
        until = REQUEST.until + timedelta(days=i)
        run = writer.start(replace(REQUEST, until=until), f"r{i:02}", T0 + timedelta(seconds=i))
        writer.finish(finished(run))
    weekly = replace(REQUEST, schedule="weekly")
    parsed = []
    construct = ReportRequest.__init__

    def counting(self: ReportRequest, *args: object, **kwargs: object) -> None:
        parsed.append(1)
        construct(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ReportRequest, "__init__", counting)

    reader = FileReportStore(tmp_path)
    assert len(reader.runs()) == 20
    first = len(parsed)
    assert 0 < first <= 40  # at most once per line (20 running, 20 ok)
    for _ in range(3):
        assert [r.run_id for r in list_reports(reader, limit=5).items][:1] == ["r19"]
        assert reader.get("r07") is not None and reader.recorded("r07") is not None
        assert reader.query(ReportQuery(100, status=RunStatus.OK))[-1].run_id == "r00"
        assert reader.last_fire_times() == {"daily": REQUEST.until + timedelta(days=19)}
        assert reader.settle_abandoned() == []
    assert len(parsed) == first  # nothing parsed again

    writer.start(weekly, "late", T0 + timedelta(hours=1))
    assert ids(reader)[:2] == ["late", "r19"]
    assert len(parsed) == first + 1  # only the appended line


def test_an_index_replaced_or_cut_short_is_read_whole_again(tmp_path: Path) -> None:
    store = FileReportStore(tmp_path)
    store.start(REQUEST, "a", T0)
    assert ids(store) == ["a"]

    other = FileReportStore(tmp_path / "other")
    other.start(REQUEST, "b", T0 + timedelta(seconds=1))
    os.replace(other.index, store.index)  # a new file (inode) in its place
    assert ids(store) == ["b"] and store.get("a") is None

    store.index.write_bytes(b"")  # the same file, cut short
    assert ids(store) == [] and store.last_fire_times() == {}
    store.start(REQUEST, "c", T0 + timedelta(seconds=2))
    assert ids(store) == ["c"]
    store.index.unlink()
    assert ids(store) == []


def test_pages_of_a_long_index_follow_each_other_newest_first(tmp_path: Path) -> None:
    store = FileReportStore(tmp_path)
    for i in (3, 1, 4, 0, 2):  # written out of start order, as concurrent writers may
        store.start(REQUEST, f"r{i}", T0 + timedelta(seconds=i))
    seen, cursor = [], None
    while True:
        page = list_reports(store, limit=2, cursor=cursor)
        seen += [r.run_id for r in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == ["r4", "r3", "r2", "r1", "r0"]


def test_a_running_runs_files_are_not_served_and_asking_is_a_conflict(tmp_path: Path) -> None:
    store = FileReportStore(tmp_path)
    running = store.start(REQUEST, "busy", T0)
    running.notebook.write_text("{}")  # papermill writes it while the run goes on
    assert store.existing(running.notebook) is not None
    assert served_file(store, running, "notebook") is None
    assert served_file(store, running, "html") is None
    for kind in ("notebook", "html"):
        with pytest.raises(Conflict, match="report run 'busy' is still running"):
            report_file(store, "busy", kind)

    store.finish(finished(running, RunStatus.FAILED))
    done = store.get("busy")
    assert done is not None and not done.running
    assert served_file(store, done, "notebook") == running.notebook.resolve()
    assert report_file(store, "busy", "notebook") == running.notebook.resolve()
    with pytest.raises(NotFound, match="report run 'busy' has no html"):
        report_file(store, "busy", "html")
    with pytest.raises(NotFound, match="no report run 'nope'"):
        report_file(store, "nope", "notebook")
