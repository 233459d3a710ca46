"""`eventpulse report` refuses bad options with status 2 and names the option, before it
records or runs anything; `eventpulse scheduler --check` validates the schedules file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RANGE = ["--since", "2014-02-01T00:00:00Z", "--until", "2014-02-02T00:00:00Z"]


def eventpulse(args: list[str], home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("EVENTPULSE_")}
    return subprocess.run(
        [sys.executable, "-m", "eventpulse", *args],
        env={**clean, "EVENTPULSE_HOME": str(home), "COLUMNS": "200", **env},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


@pytest.mark.parametrize(
    ("args", "option", "message"),
    [
        (["--since", "2014-02-01", "--until", "2014-02-02T00:00:00Z"], "--since", "offset"),
        (["--since", "2014-02-02T00:00:00Z", "--until", "2014-02-01T00:00:00Z"], "--until", ""),
        ([*RANGE, "--rules", "ok-rule, Not An Id"], "--rules", "is not a rule id"),
        ([*RANGE, "--run-id", "../x"], "--run-id", ""),
        ([*RANGE, "--started-at", "2024-05-01T23:59:59"], "--started-at", "offset"),
    ],
    ids=["no-offset", "empty-range", "bad-rule-id", "bad-run-id", "bad-planned-start"],
)
def test_bad_options_exit_2_naming_the_option_and_record_nothing(
    tmp_path: Path, args: list[str], option: str, message: str
) -> None:
    done = eventpulse(["report", *args], tmp_path)
    assert done.returncode == 2, done.stderr
    assert f"Invalid value for {option}" in done.stderr and message in done.stderr
    assert not (tmp_path / "reports").exists()


def test_scheduler_check_names_the_file_line_and_field_of_a_problem(tmp_path: Path) -> None:
    good = eventpulse(["scheduler", "--check"], tmp_path)
    assert good.returncode == 0 and "2 schedules (daily, weekly)" in good.stdout
    config = tmp_path / "r.yaml"
    config.write_text("schedules:\n  d:\n    cron: '0 6 * * *'\n    period: soon\n")
    bad = eventpulse(["scheduler", "--check"], tmp_path, EVENTPULSE_REPORTS=str(config))
    assert bad.returncode == 2
    assert f"{config}:4:13: schedules.d.period: invalid duration 'soon'" in bad.stderr
    config.write_text("schedules:\n  d:\n    cron: '0 6 * * *'\n    period: 99999999999999w\n")
    huge = eventpulse(["scheduler", "--check"], tmp_path, EVENTPULSE_REPORTS=str(config))
    assert huge.returncode == 2 and "Traceback" not in huge.stderr, huge.stderr
    assert f"{config}:4:13: schedules.d.period: invalid duration" in huge.stderr
