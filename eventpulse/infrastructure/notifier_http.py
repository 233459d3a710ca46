"""POSTing a notification over HTTP, shared by the Slack and webhook channels: which answers
are worth retrying (5xx, 408, 425, 429, connection trouble) and which are not (other 4xx)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import httpx

from eventpulse.application.notify_ports import DeliveryFailed

_TRANSIENT_4XX: Final = frozenset({408, 425, 429})


def http_client(concurrency: int) -> httpx.AsyncClient:
    """One client per channel, so that a slow endpoint holds only its own connections; the
    delivery's own timeout bounds each attempt."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return httpx.AsyncClient(limits=limits, timeout=None, follow_redirects=False)


async def post(
    client: httpx.AsyncClient, url: str, content: bytes, headers: Mapping[str, str]
) -> None:
    try:
        response = await client.post(url, content=content, headers=dict(headers))
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"{type(exc).__name__}: {exc}".rstrip(": ")) from exc
    if response.is_success:
        return
    status = response.status_code
    permanent = 400 <= status < 500 and status not in _TRANSIENT_4XX
    raise DeliveryFailed(f"HTTP {status}: {response.text[:200]}", permanent=permanent)
