"""`eventpulse up` runs a notifier only with a valid notification config, and says why not."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from eventpulse.infrastructure.settings import Settings
from eventpulse.interfaces.supervisor import notifier_children

ROOT = Path(__file__).resolve().parents[2]


def test_up_runs_a_notifier_with_the_shipped_config_and_no_secrets() -> None:
    settings = Settings(notifications=ROOT / "data/notifications.yaml")
    (child,) = notifier_children(settings, {"EVENTPULSE_NAMESPACE": "ep"})
    assert child.argv[0] == "notifier"
    assert child.env["EVENTPULSE_NOTIFICATIONS"] == str(ROOT / "data/notifications.yaml")
    assert child.env["EVENTPULSE_NAMESPACE"] == "ep"


def test_up_runs_without_a_notifier_when_the_config_is_invalid_and_logs_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = tmp_path / "n.yaml"
    config.write_text("channels:\n  s: {type: slack, webhook_url_env: EP_TEST_UNSET_VARIABLE}\n")
    with caplog.at_level(logging.WARNING, logger="eventpulse.up"):
        assert notifier_children(Settings(notifications=config), {}) == []
    assert "the notifier is not started" in caplog.text
    assert f"{config}:2:" in caplog.text and "EP_TEST_UNSET_VARIABLE is not set" in caplog.text
