"""Before `eventpulse api`/`up` listen: no open API on the network by accident.

While no API key exists the API checks none, so it may listen only on a loopback address,
unless explicitly allowed (`--allow-unauthenticated` or EVENTPULSE_ALLOW_UNAUTHENTICATED=true).
Each start says which of these it is in one log line. The API applies the same rule to every
request (application/access.py), so revoking the last key later does not open it up either.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable

from eventpulse.domain.errors import EventPulseError, StoreUnavailable
from eventpulse.infrastructure.postgres_api_keys import PostgresKeyRegistry
from eventpulse.infrastructure.settings import Settings

log = logging.getLogger("eventpulse.access")


class UnsafeExposure(EventPulseError):
    """Listening on a non-loopback address with no API key, not explicitly allowed."""


def is_loopback_host(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def active_keys(settings: Settings) -> int:
    assert settings.database_url is not None, "URLs are resolved before start-up"
    with PostgresKeyRegistry.connect(settings.database_url) as registry:
        return sum(1 for key in registry.all() if key.active)


def check_exposure(
    settings: Settings, host: str, count: Callable[[Settings], int] = active_keys
) -> None:
    """Log how the API will check access on `host`; `UnsafeExposure` when it must not start."""
    try:
        active = count(settings)
    except StoreUnavailable as exc:
        log.warning("cannot tell whether API keys exist (%s); each request will be checked", exc)
        return
    if active:
        log.info("API keys required: %d active (eventpulse keys list)", active)
    elif is_loopback_host(host):
        log.warning(
            "no API key exists: serving WITHOUT authentication, to loopback clients only (%s); "
            "create a key with `eventpulse keys create --scope admin`",
            host,
        )
    elif settings.allow_unauthenticated:
        log.warning(
            "no API key exists and unauthenticated access is allowed: anyone who reaches %s "
            "can use the API",
            host,
        )
    else:
        raise UnsafeExposure(
            f"refusing to listen on {host} with no API key: create one with `eventpulse keys "
            "create --scope admin`, listen on 127.0.0.1, or pass --allow-unauthenticated "
            "(EVENTPULSE_ALLOW_UNAUTHENTICATED=true)"
        )
