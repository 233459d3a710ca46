"""`eventpulse up` runs the report scheduler only with a schedules file that exists and is
valid, and says why not otherwise (the rest of the product runs either way)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from eventpulse.infrastructure.settings import Settings
from eventpulse.interfaces.supervisor import scheduler_children

ROOT = Path(__file__).resolve().parents[2]


def test_up_runs_the_scheduler_with_the_shipped_schedules() -> None:
    settings = Settings(reports=ROOT / "data/reports.yaml")
    (child,) = scheduler_children(settings, {"EVENTPULSE_NAMESPACE": "ep"})
    assert child.argv == ["scheduler"]
    assert child.env["EVENTPULSE_REPORTS"] == str(ROOT / "data/reports.yaml")
    assert Path(child.env["EVENTPULSE_REPORT_NOTEBOOK"]).is_absolute()
    assert float(child.env["EVENTPULSE_SCHEDULER_GRACE_S"]) <= 10  # inside up's stop timeout
    assert child.env["EVENTPULSE_NAMESPACE"] == "ep"


def test_up_skips_the_scheduler_without_a_schedules_file_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="eventpulse.up"):
        assert scheduler_children(Settings(reports=tmp_path / "none.yaml"), {}) == []
    assert f"the report scheduler is not started: no schedules at {tmp_path}" in caplog.text


@pytest.mark.parametrize(
    ("schedules", "where"),
    [
        pytest.param(
            "schedules:\n  daily:\n    cron: '0 6 * *'\n    period: 1d\n",
            "3:11: schedules.daily.cron",
            id="bad-cron",
        ),
        pytest.param(
            "schedules:\n  d:\n    cron: '0 6 * * *'\n    period: 99999999999999w\n",
            "4:13: schedules.d.period: invalid duration",
            id="period-out-of-range",
        ),
    ],
)
def test_up_refuses_an_invalid_schedules_file_logs_where_and_runs_on(
    schedules: str, where: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = tmp_path / "r.yaml"
    config.write_text(schedules)
    with caplog.at_level(logging.WARNING, logger="eventpulse.up"):
        assert scheduler_children(Settings(reports=config), {}) == []
    assert "the report scheduler is not started" in caplog.text
    assert f"{config}:{where}" in caplog.text


def test_up_runs_on_when_reading_the_schedules_fails_unexpectedly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eventpulse.interfaces import scheduler

    def broken(settings: Settings) -> None:
        raise RuntimeError("a bug")

    config = tmp_path / "r.yaml"
    config.write_text("schedules: {}\n")
    monkeypatch.setattr(scheduler, "load_report_schedules", broken)
    with caplog.at_level(logging.WARNING, logger="eventpulse.up"):
        assert scheduler_children(Settings(reports=config), {}) == []
    assert f"the report scheduler is not started: reading {config} failed" in caplog.text
