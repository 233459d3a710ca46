"""The report schedules file is checked whole at start-up; each problem names its file, line,
column and field."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from textwrap import dedent

import pytest

from eventpulse.infrastructure.report_schedule_config import (
    InvalidReportSchedules,
    load_schedules,
    parse_schedules,
)

ROOT = Path(__file__).resolve().parents[2]


def problems(text: str, base: Path = ROOT) -> list[tuple[int, int, str, str]]:
    with pytest.raises(InvalidReportSchedules) as caught:
        parse_schedules(dedent(text), "r.yaml", base=base)
    return [(p.line, p.column, p.where, p.message) for p in caught.value.problems]


def test_the_shipped_sample_has_a_daily_and_a_weekly_report() -> None:
    config = load_schedules(ROOT / "data/reports.yaml")
    daily, weekly = config.schedules
    assert (daily.name, daily.cron, daily.period) == ("daily", "0 6 * * *", timedelta(days=1))
    assert (weekly.name, weekly.period, weekly.rule_ids) == ("weekly", timedelta(days=7), ())
    assert daily.enabled and daily.catch_up and daily.notebook is None
    assert weekly.title == "Weekly anomaly report"


def test_every_field_reads_into_a_schedule(tmp_path: Path) -> None:
    (tmp_path / "nb").mkdir()
    (tmp_path / "nb" / "other.ipynb").write_text("{}")
    config = parse_schedules(
        dedent(
            """
            schedules:
              fast:
                cron: "*/2 * * * * *"
                period: 90m
                title: Every two seconds
                rule_ids: [cpu-high, disk.full]
                enabled: false
                catch_up: false
                notebook: nb/other.ipynb
            """
        ),
        "r.yaml",
        base=tmp_path,
    )
    (fast,) = config.schedules
    assert fast.period == timedelta(minutes=90) and fast.rule_ids == ("cpu-high", "disk.full")
    assert not fast.enabled and not fast.catch_up
    assert fast.notebook == (tmp_path / "nb" / "other.ipynb").resolve()


def test_no_schedules_is_valid() -> None:
    assert parse_schedules("schedules: {}\n", "r.yaml", base=ROOT).schedules == ()
    assert parse_schedules("", "r.yaml", base=ROOT).schedules == ()


def test_each_problem_names_its_line_column_and_field() -> None:
    found = problems(
        """
        schedules:
          daily:
            cron: "0 6 * *"
            period: 1d
          weekly:
            cron: "0 6 * * mon"
            period: 1 week
            rule_ids: [Not An Id]
            enabled: sometimes
          bad/name:
            cron: "0 6 * * *"
            period: 1d
          nocron:
            period: 1d
          extra:
            cron: "0 6 * * *"
            period: 0d
            colour: blue
            notebook: missing.ipynb
        """
    )
    assert found[0][:3] == (4, 11, "schedules.daily.cron")
    assert "invalid cron expression '0 6 * *': expected 5 fields" in found[0][3]
    assert found[1][:3] == (8, 13, "schedules.weekly.period")
    assert found[2][:3] == (9, 16, "schedules.weekly.rule_ids[0]")
    assert found[3][:3] == (10, 14, "schedules.weekly.enabled")
    assert found[4][:3] == (11, 3, "schedules.bad/name")
    assert found[5][2:] == ("schedules.nocron", "missing key: cron")
    assert found[6][2:4] == ("schedules.extra.colour", found[6][3])
    assert found[6][3].startswith("unknown key")
    assert {p[2] for p in found[7:]} == {"schedules.extra.period", "schedules.extra.notebook"}


def test_a_syntax_error_and_a_missing_file_name_their_position(tmp_path: Path) -> None:
    assert problems("schedules:\n  a: [1,\n")[0][2] == "document"
    with pytest.raises(InvalidReportSchedules) as caught:
        load_schedules(tmp_path / "none.yaml")
    assert str(caught.value).startswith(f"invalid report schedules {tmp_path / 'none.yaml'}:")
    assert f"{tmp_path / 'none.yaml'}:1:1: file: cannot read" in str(caught.value)


def test_the_rendered_error_is_file_line_column_field_message() -> None:
    with pytest.raises(InvalidReportSchedules) as caught:
        parse_schedules("schedules:\n  d:\n    cron: nope\n    period: 1d\n", "r.yaml", base=ROOT)
    assert "r.yaml:3:11: schedules.d.cron: invalid cron expression 'nope'" in str(caught.value)


def test_the_documented_period_forms_read_as_their_durations() -> None:
    forms = {"30s": 30, "90m": 5400, "12h": 43_200, "1d": 86_400, "7d": 604_800, "1w": 604_800}
    for text, seconds in forms.items():
        config = parse_schedules(
            f"schedules:\n  d:\n    cron: '0 6 * * *'\n    period: {text}\n", "r.yaml", base=ROOT
        )
        assert config.schedules[0].period == timedelta(seconds=seconds), text


@pytest.mark.parametrize(
    ("period", "message"),
    [
        ("99999999999999w", "invalid duration '99999999999999w'"),  # past timedelta's range
        ("20000000w", "at most 3650d"),  # in range, but no fire time could subtract it
        ("0d", "must be greater than zero"),
        ("1h30m", "expected a whole number and a unit"),
        ("3600", "expected a duration string"),
    ],
)
def test_a_period_out_of_range_is_a_problem_at_its_position(period: str, message: str) -> None:
    ((line, column, where, text),) = problems(
        f"""
        schedules:
          d:
            cron: "0 6 * * *"
            period: {period}
        """
    )
    assert (line, column, where) == (5, 13, "schedules.d.period")
    assert message in text


def test_a_value_yaml_cannot_construct_is_a_problem_at_its_position() -> None:
    ((line, column, where, text),) = problems(
        """
        schedules:
          d:
            cron: "0 6 * * *"
            period: 1d
            title: 2024-02-30
        """
    )
    assert (line, column, where) == (6, 12, "schedules.d.title")
    assert "day is out of range" in text


def test_a_file_that_is_not_utf8_is_refused_naming_it(tmp_path: Path) -> None:
    config = tmp_path / "r.yaml"
    config.write_bytes(b"schedules:\n  d:\n    title: \xff\n")
    with pytest.raises(InvalidReportSchedules) as caught:
        load_schedules(config)
    assert f"{config}:1:1: file: not UTF-8" in str(caught.value)
