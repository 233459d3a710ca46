"""How a long-running process hears that it should stop: SIGTERM (a supervisor, systemd) and
SIGINT (Ctrl-C) set an event its loop checks, so it stops where it chooses, not mid-write."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType


def stop_on_signals(
    log: logging.Logger | None = None,
    doing: str = "stopping",
    event: threading.Event | None = None,
) -> threading.Event:
    """The event (`event`, or a new one) that SIGTERM and SIGINT set, each logged to `log` as
    `signal N: <doing>`. Only the main thread may install signal handlers."""
    stop = event if event is not None else threading.Event()

    def request_stop(signum: int, _: FrameType | None) -> None:
        if log is not None:
            log.info("signal %s: %s", signum, doing)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    return stop
