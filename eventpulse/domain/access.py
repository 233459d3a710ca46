"""API keys: what a key may do (its scopes), how a key reads, and how its secret is checked.

A key reads `ep_<key_id>_<secret>`: `key_id` (12 hex characters) is visible in listings and
finds the stored key; `secret` is `secrets.token_urlsafe(32)` (256 random bits) and is stored
only as HMAC-SHA256 keyed by a per-key random salt. A slow password hash (scrypt, PBKDF2)
defends low-entropy secrets against guessing; nothing can guess 256 random bits, so a fast
keyed hash is as safe here and costs a few microseconds per request instead of tens of
milliseconds. `hmac.compare_digest` keeps the comparison constant-time.

Scopes: `ingest` (POST events), `read` (every GET, backtests, the live anomaly WebSocket) and
`admin` (rule and silence changes). `admin` implies the other two: whoever may change what the
product detects may also read it and send test events; producers and dashboards get narrower
keys.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

TOKEN_PREFIX: Final = "ep_"
KEY_ID_CHARS: Final = frozenset("0123456789abcdef")


class Scope(StrEnum):
    INGEST = "ingest"
    READ = "read"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key as listed: never its secret. `rate_per_s` limits its ingestion (None: no limit)."""

    key_id: str
    name: str
    scopes: frozenset[Scope]
    rate_per_s: float | None
    created_at: datetime
    revoked_at: datetime | None = None

    def allows(self, needed: Scope) -> bool:
        return needed in self.scopes or Scope.ADMIN in self.scopes  # admin implies the others

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class StoredKey:
    """A key with what verifies its secret: the salt and HMAC-SHA256(salt, secret)."""

    key: ApiKey
    salt: bytes
    digest: bytes

    def verifies(self, secret: str) -> bool:
        return hmac.compare_digest(secret_digest(self.salt, secret), self.digest)


@dataclass(frozen=True, slots=True)
class KeyToken:
    """The two parts of a key as a client sends it."""

    key_id: str
    secret: str

    def __str__(self) -> str:
        return f"{TOKEN_PREFIX}{self.key_id}_{self.secret}"


def secret_digest(salt: bytes, secret: str) -> bytes:
    return hmac.new(salt, secret.encode(), hashlib.sha256).digest()


def parse_token(text: str) -> KeyToken | None:
    """The parts of `ep_<key_id>_<secret>`; None for anything else."""
    if not text.startswith(TOKEN_PREFIX):
        return None
    key_id, _, secret = text[len(TOKEN_PREFIX) :].partition("_")
    if not key_id or not secret or not KEY_ID_CHARS.issuperset(key_id):
        return None
    return KeyToken(key_id, secret)


def parse_scopes(values: list[str]) -> frozenset[Scope]:
    """Scopes named in `values` (each may be comma-separated); ValueError names a bad one."""
    names = [name.strip() for value in values for name in value.split(",") if name.strip()]
    if not names:
        raise ValueError("give at least one scope: ingest, read or admin")
    try:
        return frozenset(Scope(name) for name in names)
    except ValueError:
        bad = next(name for name in names if name not in {s.value for s in Scope})
        raise ValueError(f"unknown scope {bad!r}: expected ingest, read or admin") from None
