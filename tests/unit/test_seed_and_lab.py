"""`eventpulse up --seed` reads the sample in time order; `--lab` runs JupyterLab on the
notebooks with the project's `eventpulse` kernel."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

from eventpulse.interfaces.lab import KERNEL_NAME, lab_argv, register_kernel
from eventpulse.interfaces.seed import sample_events, sample_rule_files, sample_series_files
from eventpulse.interfaces.supervisor import UpOptions, lab_children

DATA = Path(__file__).parents[2] / "data"


def test_the_sample_is_every_nab_series_merged_in_time_order_with_stable_ids() -> None:
    files = sample_series_files(DATA)
    rows = sum(len(path.read_text().strip().splitlines()) - 1 for path in files)

    events = sample_events(DATA)

    assert len(files) == 7 and len(events) == rows
    assert {e["source"] for e in events} == {path.stem for path in files}
    times = [datetime.fromisoformat(e["timestamp"]) for e in events]
    assert times == sorted(times)
    assert len({e["event_id"] for e in events}) == rows
    assert [e["event_id"] for e in sample_events(DATA)] == [e["event_id"] for e in events]
    assert [p.stem for p in sample_rule_files(DATA)] == [
        "ambient_temperature_high",
        "ec2_request_latency_spike",
        "machine_temperature_drop",
    ]


def test_the_kernel_is_this_python_registered_under_a_prefix(tmp_path: Path) -> None:
    folder = register_kernel(tmp_path)

    spec = json.loads((folder / "kernel.json").read_text())
    assert folder == tmp_path / "share/jupyter/kernels" / KERNEL_NAME
    assert spec["argv"][0] == sys.executable and spec["language"] == "python"


def test_lab_serves_the_notebooks_with_the_kernel_and_the_api_url_in_its_environment() -> None:
    options = UpOptions(port=8123, lab=True, lab_port=8899, notebooks=Path("notebooks"))

    (child,) = lab_children(options, {"EVENTPULSE_NAMESPACE": "ep"})

    assert child.argv == ["lab", "--port", "8899", "--notebooks", "notebooks"]
    assert child.env == {
        "EVENTPULSE_NAMESPACE": "ep",
        "EVENTPULSE_API_URL": "http://127.0.0.1:8123",
    }
    assert lab_children(UpOptions(), {}) == []
    argv = lab_argv(Path("notebooks"), host="127.0.0.1", port=8899)
    assert f"--ServerApp.root_dir={Path('notebooks').resolve()}" in argv
    assert f"--MappingKernelManager.default_kernel_name={KERNEL_NAME}" in argv
