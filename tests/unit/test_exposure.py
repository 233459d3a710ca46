"""`eventpulse api`/`up` refuse a non-loopback address while no API key exists, and say at start
how access is checked."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from eventpulse.domain.errors import StoreUnavailable
from eventpulse.infrastructure.settings import Settings
from eventpulse.interfaces.exposure import UnsafeExposure, check_exposure, is_loopback_host

SETTINGS = Settings(database_url="postgresql://unused", redis_url="redis://unused")


def keys(n: int) -> Callable[[Settings], int]:
    return lambda _: n


def unreachable(_: Settings) -> int:
    raise StoreUnavailable("connection refused")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.0.2.1", False),
        ("api.example.com", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def test_without_keys_a_loopback_start_says_it_serves_without_authentication(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="eventpulse.access"):
        check_exposure(SETTINGS, "127.0.0.1", keys(0))
    assert "WITHOUT authentication, to loopback clients only" in caplog.text


def test_without_keys_a_public_address_is_refused_unless_explicitly_allowed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with pytest.raises(UnsafeExposure, match="--allow-unauthenticated"):
        check_exposure(SETTINGS, "0.0.0.0", keys(0))
    allowed = SETTINGS.model_copy(update={"allow_unauthenticated": True})
    with caplog.at_level(logging.INFO, logger="eventpulse.access"):
        check_exposure(allowed, "0.0.0.0", keys(0))
    assert "anyone who reaches 0.0.0.0" in caplog.text


def test_with_keys_any_address_is_fine_and_the_start_says_keys_are_required(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="eventpulse.access"):
        check_exposure(SETTINGS, "0.0.0.0", keys(2))
    assert "API keys required: 2 active" in caplog.text


def test_an_unreachable_database_is_logged_and_left_to_the_per_request_checks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="eventpulse.access"):
        check_exposure(SETTINGS, "0.0.0.0", unreachable)
    assert "cannot tell whether API keys exist" in caplog.text
