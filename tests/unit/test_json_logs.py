"""Log lines: one JSON object per line with the process role and the context of the call."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator
from datetime import datetime

import orjson
import pytest

from eventpulse.interfaces.logs import REQUEST_ID, JsonFormatter, TextFormatter, configure_logging


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    made = logging.makeLogRecord(
        {"name": "eventpulse.worker", "levelno": logging.WARNING, "levelname": "WARNING"}
    )
    made.msg, made.args = message, args
    made.__dict__.update(extra)
    return made


def test_a_json_line_holds_time_level_logger_message_and_role() -> None:
    line = JsonFormatter("worker").format(record("stored %d events", 3))

    document = orjson.loads(line)
    assert "\n" not in line
    assert document["level"] == "WARNING"
    assert document["logger"] == "eventpulse.worker"
    assert document["message"] == "stored 3 events"
    assert document["role"] == "worker"
    assert datetime.fromisoformat(document["ts"]).utcoffset() is not None


def test_fields_passed_with_extra_become_fields_of_the_line() -> None:
    extra = {"event_id": "e-1", "rule_id": "r-1", "anomaly_id": None, "channel": "slack"}
    document = orjson.loads(JsonFormatter("worker").format(record("rule failed", **extra)))

    assert (document["event_id"], document["rule_id"], document["channel"]) == (
        "e-1",
        "r-1",
        "slack",
    )
    assert "anomaly_id" not in document  # unknown context is left out, not null


def test_the_current_request_id_is_on_every_line_written_while_it_is_set() -> None:
    token = REQUEST_ID.set("req-42")
    try:
        inside = orjson.loads(JsonFormatter("api").format(record("accepted")))
    finally:
        REQUEST_ID.reset(token)
    outside = orjson.loads(JsonFormatter("api").format(record("accepted")))

    assert inside["request_id"] == "req-42"
    assert "request_id" not in outside


def test_a_traceback_stays_inside_the_one_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        failing = record("failed", exc_info=sys.exc_info())
    line = JsonFormatter("notifier").format(failing)

    assert "\n" not in line
    assert "ValueError: boom" in orjson.loads(line)["exc_info"]


def test_the_text_format_appends_the_context_as_key_value_pairs() -> None:
    line = TextFormatter().format(record("rule failed", rule_id="r-1"))

    assert line.endswith("WARNING eventpulse.worker rule failed rule_id=r-1")


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    ours = logging.getLogger("eventpulse").level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("eventpulse").setLevel(ours)
    logging.captureWarnings(False)


@pytest.mark.parametrize(
    ("role", "chosen", "json_expected"),
    [
        pytest.param("worker", None, True, id="service-default-json"),
        pytest.param("cli", None, False, id="tool-default-text"),
        pytest.param("api", "text", False, id="text-for-people"),
        pytest.param("cli", "json", True, id="json-on-request"),
    ],
)
def test_services_log_json_unless_text_is_asked_for(
    restored_logging: None,
    monkeypatch: pytest.MonkeyPatch,
    role: str,
    chosen: str | None,
    json_expected: bool,
) -> None:
    out = io.StringIO()
    monkeypatch.setattr("sys.stderr", out)
    configure_logging(role, chosen, "DEBUG")
    logging.getLogger("eventpulse.test").debug("hello", extra={"event_id": "e-9"})

    line = out.getvalue().strip()
    if json_expected:
        assert orjson.loads(line)["event_id"] == "e-9"
    else:
        assert line.endswith("DEBUG eventpulse.test hello event_id=e-9")
    assert logging.getLogger().level == logging.INFO  # other libraries stay at INFO
