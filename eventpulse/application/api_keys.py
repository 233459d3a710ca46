"""Creating, listing and revoking API keys (`eventpulse keys ...`), and the registry port.

These run in the CLI against PostgreSQL directly, not through the API: they bootstrap access
to it. A new key's full text is returned once, to be shown once; only its salted digest is
stored (domain/access.py says why a fast keyed hash suffices).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Final, Protocol

from eventpulse.domain.access import ApiKey, KeyToken, Scope, StoredKey, secret_digest
from eventpulse.domain.errors import FieldError, InvalidInput, NotFound

MAX_NAME: Final = 200


class KeyRegistry(Protocol):
    def add(self, stored: StoredKey) -> None: ...

    def all(self) -> list[ApiKey]:
        """Every key, revoked ones too, oldest first."""
        ...

    def revoke(self, key_id: str, at: datetime) -> ApiKey | None:
        """Mark revoked at `at`; None when there is no such key not yet revoked."""
        ...


def create_key(
    registry: KeyRegistry,
    *,
    scopes: frozenset[Scope],
    name: str,
    rate_per_s: float | None,
    now: datetime,
    random_text: Callable[[int], str] = secrets.token_urlsafe,
    random_hex: Callable[[int], str] = secrets.token_hex,
) -> tuple[ApiKey, str]:
    """Store a new key; the key and its full text (`ep_<id>_<secret>`, shown once)."""
    errors = []
    if not scopes:
        errors.append(FieldError("scope", "give at least one scope: ingest, read or admin"))
    if rate_per_s is not None and not rate_per_s > 0:
        errors.append(FieldError("rate", "must be a positive number of events per second"))
    if len(name) > MAX_NAME:
        errors.append(FieldError("name", f"at most {MAX_NAME} characters"))
    if errors:
        raise InvalidInput(errors, "invalid API key")
    token = KeyToken(random_hex(6), random_text(32))
    salt = secrets.token_bytes(16)
    key = ApiKey(token.key_id, name, scopes, rate_per_s, now)
    registry.add(StoredKey(key, salt, secret_digest(salt, token.secret)))
    return key, str(token)


def revoke_key(registry: KeyRegistry, key_id: str, now: datetime) -> ApiKey:
    revoked = registry.revoke(key_id, now)
    if revoked is None:
        raise NotFound(f"no API key {key_id!r} that is not revoked already")
    return revoked
