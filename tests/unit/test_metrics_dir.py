"""The shared Prometheus directory: under the home unless configured; emptied only when asked."""

from __future__ import annotations

from pathlib import Path

import pytest

from eventpulse.interfaces.metrics_dir import MULTIPROC_ENV, use_metrics_dir


def test_an_explicit_directory_wins_and_only_the_owner_empties_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    configured = tmp_path / "prom"
    configured.mkdir()
    (configured / "counter_123.db").write_bytes(b"x")
    (configured / "notes.txt").write_text("kept")
    monkeypatch.setenv(MULTIPROC_ENV, str(configured))

    assert use_metrics_dir(tmp_path / "home", clean=False) == configured
    assert (configured / "counter_123.db").exists()
    assert use_metrics_dir(tmp_path / "home", clean=True) == configured
    assert [p.name for p in configured.iterdir()] == ["notes.txt"]


def test_it_refuses_to_start_after_prometheus_client_chose_single_process_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import prometheus_client  # noqa: F401  (imported by this test run already; made sure)

    monkeypatch.delenv(MULTIPROC_ENV, raising=False)

    with pytest.raises(RuntimeError, match="imported before"):
        use_metrics_dir(tmp_path / "home", clean=False)
