"""API keys without HTTP: token format, scopes, stored digests, the key cache, rate limits."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from eventpulse.application.api_keys import create_key, revoke_key
from eventpulse.application.rate_limits import RateLimits
from eventpulse.application.refreshing_cache import RefreshingCache
from eventpulse.domain.access import ApiKey, Scope, parse_scopes, parse_token
from eventpulse.domain.errors import InvalidInput, NotFound, RateLimited, StoreUnavailable
from tests.unit.access_fakes import FakeClock, FakeKeys
from tests.unit.fakes import T0


def test_a_new_key_reads_ep_id_secret_and_only_a_salted_digest_of_the_secret_is_stored() -> None:
    keys = FakeKeys()
    key, text = create_key(
        keys, scopes=frozenset({Scope.INGEST}), name="billing", rate_per_s=50, now=T0
    )

    token = parse_token(text)
    assert token is not None and token.key_id == key.key_id
    assert len(token.key_id) == 12 and len(token.secret) >= 43  # 256 random bits
    stored = keys.stored[key.key_id]
    assert token.secret.encode() not in stored.salt + stored.digest
    assert stored.verifies(token.secret)
    assert not stored.verifies(token.secret[:-1] + ("A" if token.secret[-1] != "A" else "B"))
    again = FakeKeys()
    _, other = create_key(again, scopes=frozenset({Scope.READ}), name="", rate_per_s=None, now=T0)
    assert other != text


@pytest.mark.parametrize(
    "text",
    ["", "Bearer x", "ep_", "ep_abc", "ep_abc_", "ep__secret", "ep_XYZ_secret", "xx_abc_secret"],
)
def test_malformed_tokens_do_not_parse(text: str) -> None:
    assert parse_token(text) is None


def test_a_secret_may_hold_underscores() -> None:
    assert parse_token("ep_0a1b_se_cr_et") == parse_token("ep_0a1b_se_cr_et")
    token = parse_token("ep_0a1b_se_cr_et")
    assert token is not None and (token.key_id, token.secret) == ("0a1b", "se_cr_et")


@pytest.mark.parametrize(
    ("scopes", "allowed"),
    [
        ({Scope.ADMIN}, {Scope.ADMIN, Scope.READ, Scope.INGEST}),
        ({Scope.READ}, {Scope.READ}),
        ({Scope.INGEST}, {Scope.INGEST}),
        ({Scope.INGEST, Scope.READ}, {Scope.INGEST, Scope.READ}),
    ],
)
def test_admin_implies_read_and_ingest_and_nothing_else_implies_anything(
    scopes: set[Scope], allowed: set[Scope]
) -> None:
    key = ApiKey("ab", "", frozenset(scopes), None, T0)
    assert {scope for scope in Scope if key.allows(scope)} == allowed


def test_scopes_parse_repeated_or_comma_separated_and_a_bad_one_is_named() -> None:
    assert parse_scopes(["ingest,read", "admin"]) == frozenset(Scope)
    with pytest.raises(ValueError, match="unknown scope 'write'"):
        parse_scopes(["read,write"])
    with pytest.raises(ValueError, match="at least one"):
        parse_scopes([" , "])


def test_a_key_with_a_nonpositive_rate_or_a_long_name_is_refused_naming_the_option() -> None:
    with pytest.raises(InvalidInput) as refused:
        create_key(FakeKeys(), scopes=frozenset({Scope.READ}), name="n" * 201, rate_per_s=0, now=T0)
    assert [e.field for e in refused.value.errors] == ["rate", "name"]


def test_revoking_an_unknown_or_revoked_key_is_not_found() -> None:
    keys = FakeKeys()
    key, _ = create_key(keys, scopes=frozenset({Scope.READ}), name="", rate_per_s=None, now=T0)
    assert revoke_key(keys, key.key_id, T0).revoked_at == T0
    with pytest.raises(NotFound):
        revoke_key(keys, key.key_id, T0)
    with pytest.raises(NotFound):
        revoke_key(keys, "abcdef", T0)


# --- the cache ---


class Loader:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.value = "v1"
        self.error: Exception | None = None
        self.gate: asyncio.Event | None = None

    async def __call__(self, key: str) -> str:
        self.calls.append(key)
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error
        return f"{key}:{self.value}"


def test_concurrent_misses_share_one_load() -> None:
    async def scenario() -> tuple[list[str], list[str]]:
        load, clock = Loader(), FakeClock()
        load.gate = asyncio.Event()
        cache = RefreshingCache(load, ttl_s=5, clock=clock)
        waiting = [asyncio.ensure_future(cache.get("k")) for _ in range(10)]
        await asyncio.sleep(0)
        load.gate.set()
        return await asyncio.gather(*waiting), load.calls

    values, calls = asyncio.run(scenario())
    assert values == ["k:v1"] * 10
    assert calls == ["k"]


def test_a_busy_entry_is_refreshed_in_the_background_before_it_expires() -> None:
    async def scenario() -> list[str]:
        load, clock = Loader(), FakeClock()
        cache = RefreshingCache(load, ttl_s=5, clock=clock)
        seen = [await cache.get("k")]
        load.value = "v2"
        clock.advance(4.5)  # past 80% of the TTL: answered from the cache, refreshed meanwhile
        seen.append(await cache.get("k"))
        await asyncio.sleep(0)
        seen.append(await cache.get("k"))
        return seen

    assert asyncio.run(scenario()) == ["k:v1", "k:v1", "k:v2"]


def test_an_expired_entry_is_reloaded_before_answering() -> None:
    async def scenario() -> list[str]:
        load, clock = Loader(), FakeClock()
        cache = RefreshingCache(load, ttl_s=5, clock=clock)
        first = await cache.get("k")
        load.value = "v2"
        clock.advance(5.0)
        return [first, await cache.get("k")]

    assert asyncio.run(scenario()) == ["k:v1", "k:v2"]


def test_a_store_outage_keeps_the_last_answer_and_fails_only_unseen_keys() -> None:
    async def scenario() -> tuple[str, list[str]]:
        load, clock = Loader(), FakeClock()
        cache = RefreshingCache(load, ttl_s=5, clock=clock)
        await cache.get("k")
        load.error = StoreUnavailable("down")
        clock.advance(60)
        stale = await cache.get("k")
        clock.advance(1)
        await cache.get("k")  # kept for another TTL: no new attempt
        with pytest.raises(StoreUnavailable):
            await cache.get("other")
        return stale, load.calls

    stale, calls = asyncio.run(scenario())
    assert stale == "k:v1"
    assert calls == ["k", "k", "other"]


def test_the_cache_keeps_at_most_max_entries_dropping_the_oldest() -> None:
    async def scenario() -> list[str]:
        load, clock = Loader(), FakeClock()
        cache = RefreshingCache(load, ttl_s=5, clock=clock, max_entries=2)
        for key in ("a", "b", "c", "a"):
            await cache.get(key)
        return load.calls

    assert asyncio.run(scenario()) == ["a", "b", "c", "a"]


# --- rate limits ---


def test_a_bucket_refills_at_the_rate_up_to_one_second_of_burst() -> None:
    clock = FakeClock()
    limits = RateLimits(clock)
    key = ApiKey("ab", "", frozenset({Scope.INGEST}), 10, T0)
    for _ in range(10):
        limits.admit(key)
        limits.charge(key, 1)
    with pytest.raises(RateLimited) as limited:
        limits.admit(key)
    assert limited.value.retry_after == 1
    clock.advance(60)  # a long pause does not bank more than one second of events
    for _ in range(10):
        limits.admit(key)
        limits.charge(key, 1)
    with pytest.raises(RateLimited):
        limits.admit(key)


def test_a_key_without_a_rate_is_never_limited_and_a_new_rate_starts_a_new_bucket() -> None:
    clock = FakeClock()
    limits = RateLimits(clock)
    free = ApiKey("ab", "", frozenset({Scope.INGEST}), None, T0)
    limits.charge(free, 10**9)
    limits.admit(free)
    slow = ApiKey("cd", "", frozenset({Scope.INGEST}), 1, T0)
    limits.charge(slow, 100)
    with pytest.raises(RateLimited) as limited:
        limits.admit(slow)
    assert limited.value.retry_after == 100
    limits.admit(dataclasses.replace(slow, rate_per_s=1000))
