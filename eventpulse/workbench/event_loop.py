"""An asyncio loop on a thread of its own, so that notebook code can call async use cases.

A Jupyter kernel already runs an event loop on its main thread, where `asyncio.run` refuses to
start another. The workbench's async adapters (connection pool, Redis client) live on this
loop; `run` hands it a coroutine and waits for the result. Interrupting the wait (the
notebook's stop button) cancels the coroutine, which gives its connection back.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    def __init__(self, name: str = "eventpulse-workbench") -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """The coroutine's result, run on the loop's thread."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            return future.result(timeout)
        except BaseException:
            future.cancel()  # KeyboardInterrupt or timeout: stop the work, free its resources
            raise

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()
