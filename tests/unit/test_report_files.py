"""The report runs on the filesystem: layout, the append-only index folded by run id, a torn
line, concurrent writers in several processes, abandoned runs, paging and path checks."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest

from eventpulse.application.report_index import ReportQuery, find_report, list_reports
from eventpulse.application.reports import ReportRequest, ReportRun, RunStatus
from eventpulse.domain.errors import InvalidInput, NotFound
from eventpulse.infrastructure.report_files import FileReportStore

T0 = datetime(2024, 5, 1, 23, 59, 30, tzinfo=UTC)
REQUEST = ReportRequest(
    since=datetime(2014, 2, 1, tzinfo=UTC),
    until=datetime(2014, 2, 2, tzinfo=UTC),
    rule_ids=("a", "b"),
    title="Daily",
    schedule="daily",
)


def finished(
    run: ReportRun, status: RunStatus = RunStatus.OK, error: str | None = None
) -> ReportRun:
    end = run.started_at + timedelta(seconds=3)
    return replace(run, status=status, finished_at=end, duration_s=3.0, error=error)


def lines(store: FileReportStore) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in store.index.read_bytes().splitlines()]


def test_a_run_is_recorded_running_then_finished_and_its_files_are_under_its_utc_date(
    tmp_path: Path,
) -> None:
    store = FileReportStore(tmp_path)
    started = datetime(2024, 5, 2, 4, 30, tzinfo=timezone(timedelta(hours=5)))  # 23:30 UTC
    run = store.start(REQUEST, "run-1", started)

    assert run.notebook == tmp_path / "2024-05-01" / "run-1.ipynb"  # the UTC date
    assert run.html == tmp_path / "2024-05-01" / "run-1.html"
    assert store.get("run-1") == run
    store.finish(finished(run))

    got = store.get("run-1")
    assert got is not None and got.status is RunStatus.OK and got.duration_s == 3.0
    assert got.request == REQUEST
    assert [line["status"] for line in lines(store)] == ["running", "ok"]
    assert lines(store)[0]["notebook"] == "2024-05-01/run-1.ipynb"  # relative to the root


def test_a_finished_run_is_final_and_runs_list_newest_first(tmp_path: Path) -> None:
    store = FileReportStore(tmp_path)
    first = store.start(REQUEST, "first", T0)
    second = store.start(REQUEST, "second", T0 + timedelta(seconds=1))
    store.finish(finished(first, RunStatus.FAILED, error="cell 3 raised"))
    store.finish(finished(first))  # a later outcome of a finished run is ignored
    store.finish(second)  # and so is a later `running` line

    assert [r.run_id for r in store.runs()] == ["second", "first"]
    got = store.get("first")
    assert got is not None and got.status is RunStatus.FAILED and got.error == "cell 3 raised"


def test_a_torn_last_line_is_skipped_and_the_next_append_starts_on_a_line_of_its_own(
    tmp_path: Path,
) -> None:
    store = FileReportStore(tmp_path)
    store.finish(finished(store.start(REQUEST, "before", T0)))
    with store.index.open("ab") as index:
        index.write(b'{"v": 1, "run_id": "torn", "status": "runn')  # a writer died here

    assert [r.run_id for r in store.runs()] == ["before"]
    store.start(REQUEST, "after", T0 + timedelta(seconds=5))

    assert [r.run_id for r in FileReportStore(tmp_path).runs()] == ["after", "before"]
    assert [r.run_id for r in store.runs()] == ["after", "before"]  # the incremental reader too
    assert store.index.read_bytes().count(b"\n") == 4  # the torn line was ended, not joined


def test_garbage_lines_and_records_that_are_not_runs_are_skipped(tmp_path: Path) -> None:
    store = FileReportStore(tmp_path)
    store.start(REQUEST, "good", T0)
    with store.index.open("ab") as index:
        index.write(b"not json\n[1, 2]\n\n")
        index.write(b'{"run_id": "../../etc", "status": "ok"}\n')  # not a valid run id
        index.write(b'{"run_id": "no-times", "status": "ok"}\n')  # fields missing
    store.start(REQUEST, "later", T0 + timedelta(seconds=1))

    assert [r.run_id for r in FileReportStore(tmp_path).runs()] == ["later", "good"]


def _append_runs(root: str, writer: int, count: int) -> None:
    store = FileReportStore(Path(root))
    for i in range(count):
        run = store.start(REQUEST, f"w{writer}-{i}", T0 + timedelta(milliseconds=i))
        store.finish(finished(run))


def test_concurrent_writers_in_several_processes_never_interleave_lines(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_append_runs, args=(str(tmp_path), w, 40)) for w in range(6)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(60)
        assert process.exitcode == 0

    store = FileReportStore(tmp_path)
    assert len(lines(store)) == 6 * 40 * 2  # every line parses: nothing interleaved
    runs = store.query(ReportQuery(limit=1000))
    assert len(runs) == 240 and {r.status for r in runs} == {RunStatus.OK}


def test_a_running_run_whose_process_is_gone_reads_as_failed_abandoned(tmp_path: Path) -> None:
    code = (
        "import sys; from datetime import datetime, UTC; from pathlib import Path;"
        "from eventpulse.infrastructure.report_files import FileReportStore;"
        "from tests.unit.test_report_files import REQUEST;"
        "FileReportStore(Path(sys.argv[1])).start(REQUEST, 'orphan', datetime.now(UTC))"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, cwd=_repo())
    store = FileReportStore(tmp_path)
    mine = store.start(REQUEST, "mine", T0)  # this process lives: still running

    orphan = store.get("orphan")
    assert orphan is not None and orphan.status is RunStatus.FAILED
    assert orphan.error is not None and orphan.error.startswith("abandoned: its process (pid ")
    assert store.get("mine") == mine
    assert [r.run_id for r in store.query(ReportQuery(10, status=RunStatus.FAILED))] == ["orphan"]
    recorded = store.recorded("orphan")
    assert recorded is not None and recorded.status is RunStatus.RUNNING  # readers do not write

    assert store.settle_abandoned() == ["orphan"]  # the scheduler does, at start
    assert lines(store)[-1]["status"] == "failed"
    assert store.settle_abandoned() == []


def test_a_recycled_pid_is_not_taken_for_the_writer(tmp_path: Path) -> None:
    store = FileReportStore(tmp_path)
    store.start(REQUEST, "run", T0)
    record = lines(store)[0]
    record["writer"] = {**record["writer"], "started": "1"}  # type: ignore[dict-item]
    store.index.write_bytes(orjson.dumps(record) + b"\n")

    got = FileReportStore(tmp_path).get("run")
    assert got is not None and got.status is RunStatus.FAILED


def test_runs_from_another_host_are_abandoned_only_once_stale(tmp_path: Path) -> None:
    store = FileReportStore(tmp_path)
    store.start(REQUEST, "remote", T0)
    record = lines(store)[0]
    record["writer"] = {"host": "elsewhere.example", "pid": os.getpid(), "started": None}
    store.index.write_bytes(orjson.dumps(record) + b"\n")

    def at(moment: datetime) -> FileReportStore:
        return FileReportStore(tmp_path, stale_after_s=600, clock=lambda: moment)

    soon, late = (
        at(T0 + timedelta(seconds=60)).get("remote"),
        at(T0 + timedelta(hours=1)).get("remote"),
    )
    assert soon is not None and soon.status is RunStatus.RUNNING
    assert late is not None and late.status is RunStatus.FAILED
    assert late.error is not None and "still running after 3600s" in late.error
    unchecked = FileReportStore(tmp_path).get("remote")
    assert unchecked is not None and unchecked.status is RunStatus.RUNNING


def test_fail_records_a_run_once_and_never_over_a_finished_one(tmp_path: Path) -> None:
    store = FileReportStore(tmp_path, clock=lambda: T0 + timedelta(seconds=7))
    assert store.fail(REQUEST, "never-started", T0, "killed by SIGKILL")
    got = store.get("never-started")
    assert got is not None and got.status is RunStatus.FAILED and got.duration_s == 7.0
    assert got.error == "killed by SIGKILL" and got.html is None

    done = store.start(REQUEST, "done", T0)
    store.finish(finished(done))
    assert not store.fail(REQUEST, "done", T0, "too late")
    assert (store.get("done") or done).status is RunStatus.OK


def test_run_ids_that_are_not_file_names_are_refused(tmp_path: Path) -> None:
    store = FileReportStore(tmp_path)
    for bad in ("../x", "a/b", ".hidden", "", "a" * 101, "x.html", "a\x00"):
        with pytest.raises(ValueError, match="not a valid run id"):
            store.start(REQUEST, bad, T0)
        assert store.get(bad) is None
        with pytest.raises(NotFound):
            find_report(store, bad)


def test_paths_from_a_tampered_index_stay_under_the_root(tmp_path: Path) -> None:
    root = tmp_path / "reports"
    store = FileReportStore(root)
    run = store.start(REQUEST, "run", T0)
    secret = tmp_path / "secret.html"
    secret.write_text("no")
    record = lines(store)[0]
    record["html"] = "../secret.html"
    store.index.write_bytes(orjson.dumps(record) + b"\n")

    got = FileReportStore(root).get("run")
    assert got is not None and got.html is None
    assert store.existing(secret) is None
    assert store.existing(run.notebook) is None  # not written yet
    run.notebook.write_text("{}")
    assert store.existing(run.notebook) == run.notebook.resolve()


def test_pages_filters_and_the_latest_fire_time_per_schedule(tmp_path: Path) -> None:
    store = FileReportStore(tmp_path)
    for i in range(5):
        schedule = "daily" if i % 2 == 0 else "weekly"
        until = datetime(2024, 5, 1 + i, tzinfo=UTC)
        request = replace(REQUEST, schedule=schedule, until=until, since=until - timedelta(1))
        run = store.start(request, f"r{i}", T0 + timedelta(minutes=i))
        store.finish(finished(run, RunStatus.OK if i != 3 else RunStatus.FAILED))
    store.start(replace(REQUEST, schedule=None), "by-hand", T0 + timedelta(hours=1))

    first = list_reports(store, limit=2)
    assert [r.run_id for r in first.items] == ["by-hand", "r4"] and first.next_cursor
    second = list_reports(store, limit=2, cursor=first.next_cursor)
    third = list_reports(store, limit=2, cursor=second.next_cursor)
    assert [r.run_id for r in second.items + third.items] == ["r3", "r2", "r1", "r0"]
    assert third.next_cursor is None
    assert [r.run_id for r in list_reports(store, status="failed").items] == ["r3"]
    assert [r.run_id for r in list_reports(store, schedule="weekly").items] == ["r3", "r1"]
    assert store.last_fire_times() == {
        "daily": datetime(2024, 5, 5, tzinfo=UTC),
        "weekly": datetime(2024, 5, 4, tzinfo=UTC),
    }
    with pytest.raises(InvalidInput) as invalid:
        list_reports(store, status="done", limit=0, cursor="nope")
    assert {e.field for e in invalid.value.errors} == {"status", "limit", "cursor"}


def test_a_missing_root_reads_as_no_runs(tmp_path: Path) -> None:
    store = FileReportStore(tmp_path / "none")
    assert store.runs() == [] and store.get("x") is None and store.last_fire_times() == {}


def _repo() -> Path:
    return Path(__file__).resolve().parents[2]
