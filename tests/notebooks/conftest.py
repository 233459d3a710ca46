"""A live local stack seeded with the sample data, for running the notebooks headless.

One API and one worker on the test servers (own database and namespace), seeded as
`eventpulse up --seed` seeds; the `eventpulse` kernel registered for this Python. Kernels get
the stack's `EVENTPULSE_*` variables from `kernel_env` (exported for one test at a time, so
that other tests never see them).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from eventpulse.interfaces.lab import register_kernel
from tests.conftest import Servers
from tests.seeded_stack import SeededStack, seeded_stack


@pytest.fixture(scope="session")
def notebook_stack(
    servers: Servers, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SeededStack]:
    register_kernel()
    with seeded_stack(servers, tmp_path_factory.mktemp("notebooks")) as stack:
        yield stack


@pytest.fixture
def kernel_env(notebook_stack: SeededStack, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The stack's settings in this process's environment, which kernels inherit."""
    import os

    for name in [n for n in os.environ if n.startswith("EVENTPULSE_")]:
        monkeypatch.delenv(name)
    env = {k: v for k, v in notebook_stack.env.items() if k.startswith("EVENTPULSE_")}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env
