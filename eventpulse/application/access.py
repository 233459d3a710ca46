"""Who may call the API: API keys and their scopes, checked on every request.

- While no key exists (none created, or all revoked) the API is open, but only to loopback
  clients unless `allow_unauthenticated`: a fresh install works on the machine it runs on and
  is not an open door on the network.
- Once a key exists, every request but the open ones (liveness, readiness, the API docs) needs
  a valid key with the scope its endpoint declares: 401 without one, 403 with the wrong scope.
- Keys are read from the store (PostgreSQL) through a cache of `ttl_s` seconds, so a check
  costs dictionary look-ups and one HMAC, not a query. A revoked key, and the first key created,
  take effect within `ttl_s` in every API process.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Final, Protocol

from eventpulse.application.rate_limits import RateLimits
from eventpulse.application.refreshing_cache import RefreshingCache
from eventpulse.domain.access import ApiKey, Scope, StoredKey, parse_token
from eventpulse.domain.errors import Forbidden, Unauthenticated

NO_KEYS: Final = (
    "no API key exists yet, so only loopback clients are served: create one with "
    "`eventpulse keys create --scope admin`, or set EVENTPULSE_ALLOW_UNAUTHENTICATED=true"
)


class KeyReader(Protocol):
    """The stored API keys (PostgreSQL `api_keys`)."""

    async def find(self, key_id: str) -> StoredKey | None:
        """The key with this id, revoked or not; None when there is none."""
        ...

    async def any_active(self) -> bool:
        """Whether at least one key is not revoked."""
        ...


class AccessControl:
    def __init__(
        self,
        keys: KeyReader | None,
        *,
        ttl_s: float = 5.0,
        allow_unauthenticated: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`keys=None` turns checks off: every request is allowed (tests of other features)."""
        self._keys = keys
        self.ttl_s = ttl_s
        self._allow_unauthenticated = allow_unauthenticated
        self._limits = RateLimits(clock)
        reader = keys or _NoKeys()
        self._stored = RefreshingCache(reader.find, ttl_s=ttl_s, clock=clock)
        self._active = RefreshingCache(_any_active(reader), ttl_s=ttl_s, clock=clock)

    @classmethod
    def disabled(cls) -> AccessControl:
        return cls(None)

    async def authorize(
        self, token: str | None, needed: Scope, *, local: Callable[[], bool]
    ) -> ApiKey | None:
        """The caller's key (None while the API is open); `Unauthenticated` or `Forbidden`.

        `local()`: whether the client connected over loopback (or a Unix socket); asked only
        while no key exists."""
        if self._keys is None:
            return None
        if not await self._active.get(None):
            if self._allow_unauthenticated or local():
                return None
            raise Unauthenticated(NO_KEYS, token_given=token is not None)
        if token is None:
            raise Unauthenticated(
                "an API key is required: send `Authorization: Bearer <key>`", token_given=False
            )
        key = await self._verified(token)
        if not key.allows(needed):
            scopes = ", ".join(sorted(key.scopes))
            raise Forbidden(
                f"API key {key.key_id} has scopes {scopes}; this request needs {needed}", needed
            )
        return key

    async def _verified(self, token: str) -> ApiKey:
        parsed = parse_token(token)
        if parsed is not None:
            stored = await self._stored.get(parsed.key_id)
            if stored is not None and stored.key.active and stored.verifies(parsed.secret):
                return stored.key
        raise Unauthenticated("invalid or revoked API key", token_given=True)

    def admit(self, key: ApiKey | None) -> None:
        """`RateLimited` while `key` is over its ingestion rate."""
        if key is not None:
            self._limits.admit(key)

    def charge(self, key: ApiKey | None, events: int) -> None:
        if key is not None:
            self._limits.charge(key, events)


def _any_active(keys: KeyReader) -> Callable[[None], Awaitable[bool]]:
    async def load(_: None) -> bool:
        return await keys.any_active()

    return load


class _NoKeys:
    async def find(self, key_id: str) -> StoredKey | None:
        return None

    async def any_active(self) -> bool:
        return False
