"""An in-memory key store (both the API's KeyReader and the CLI's KeyRegistry), and a clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from eventpulse.application.access import AccessControl
from eventpulse.application.api_keys import create_key
from eventpulse.domain.access import ApiKey, Scope, StoredKey
from eventpulse.domain.errors import StoreUnavailable
from tests.unit.fakes import T0


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeKeys:
    def __init__(self) -> None:
        self.stored: dict[str, StoredKey] = {}
        self.finds = 0
        self.unavailable = False

    def create(self, *scopes: Scope, rate: float | None = None) -> str:
        """A new key's full text."""
        _, text = create_key(self, scopes=frozenset(scopes), name="", rate_per_s=rate, now=T0)
        return text

    # KeyRegistry (sync, the CLI's)
    def add(self, stored: StoredKey) -> None:
        self.stored[stored.key.key_id] = stored

    def all(self) -> list[ApiKey]:
        return [s.key for s in self.stored.values()]

    def revoke(self, key_id: str, at: datetime) -> ApiKey | None:
        stored = self.stored.get(key_id)
        if stored is None or not stored.key.active:
            return None
        self.stored[key_id] = replace(stored, key=replace(stored.key, revoked_at=at))
        return self.stored[key_id].key

    # KeyReader (async, the API's)
    async def find(self, key_id: str) -> StoredKey | None:
        self.finds += 1
        if self.unavailable:
            raise StoreUnavailable("connection refused")
        return self.stored.get(key_id)

    async def any_active(self) -> bool:
        if self.unavailable:
            raise StoreUnavailable("connection refused")
        return any(s.key.active for s in self.stored.values())


def access_over(
    keys: FakeKeys, clock: FakeClock | None = None, *, allow_unauthenticated: bool = False
) -> AccessControl:
    return AccessControl(
        keys, ttl_s=5.0, allow_unauthenticated=allow_unauthenticated, clock=clock or FakeClock()
    )
