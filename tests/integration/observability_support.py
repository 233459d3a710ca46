"""What the stats, metrics and log tests share: events that trigger the failed-payment rule
(`tests.integration.payments`), a notification config with a log channel, and the stats/metrics
readers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

CONSOLE = "channels:\n  console: {type: log}\nroutes:\n  - channels: [console]\n"


def console_config(tmp_path: Path) -> Path:
    path = tmp_path / "notifications.yaml"
    path.write_text(CONSOLE)
    return path


def mixed_events(start: int, count: int, *, failures_every: int = 10) -> list[dict[str, Any]]:
    """`count` events one second apart from second `start`: every `failures_every`-th is a
    `payment_failed` from `shop`, the rest `cpu` from host-1 or host-2 in turn."""
    events = []
    for n in range(start, start + count):
        failed = n % failures_every == 0
        events.append(
            {
                "event_type": "payment_failed" if failed else "cpu",
                "source": "shop" if failed else f"host-{1 + n % 2}",
                "timestamp": f"2024-03-01T{n // 3600:02d}:{(n // 60) % 60:02d}:{n % 60:02d}Z",
                "payload": {"n": n},
            }
        )
    return events


def stats(api_url: str, **params: str) -> dict[str, Any]:
    response = httpx.get(f"{api_url}/api/v1/stats", params=params, timeout=10)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def metric_values(api_url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of `GET /metrics`, by (sample name, sorted labels)."""
    response = httpx.get(f"{api_url}/metrics", timeout=10)
    assert response.status_code == 200, response.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }
