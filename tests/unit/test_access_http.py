"""Access control over fakes: every route of the app declares a scope, and answers 401 without a
key and 403 with a key lacking that scope, on both ingestion fronts and on the WebSocket."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute, iter_route_contexts
from starlette.websockets import WebSocketDisconnect

from eventpulse.application.access import NO_KEYS
from eventpulse.domain.access import Scope
from eventpulse.interfaces.http.app import create_app
from tests.unit.access_fakes import FakeClock, FakeKeys, access_over
from tests.unit.api_client import SETTINGS, serve
from tests.unit.fakes import T0

PUBLIC = None
DOCS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}  # open: no secrets there
ANY_ID = "00000000-0000-4000-8000-000000000000"


def _declared(route: Any) -> list[Scope | None]:
    return [
        dep.call.required_scope
        for dep in route.dependant.dependencies
        if hasattr(dep.call, "required_scope")
    ]


def _routes() -> list[tuple[str, str, list[Scope | None]]]:
    """(method, path, declared scopes) of every route; WEBSOCKET for WebSocket routes."""
    found: list[tuple[str, str, list[Scope | None]]] = []
    for route in iter_route_contexts(create_app(SETTINGS).routes):
        original, path = route.original_route, str(route.path)
        if isinstance(original, APIWebSocketRoute):
            found.append(("WEBSOCKET", path, _declared(route)))
        elif isinstance(original, APIRoute):
            found += [(method, path, _declared(route)) for method in sorted(route.methods or ())]
        else:
            found.append(("OTHER", path, []))
    return found


ROUTES = _routes()
HTTP_ROUTES = [(m, p, s[0]) for m, p, s in ROUTES if m not in ("WEBSOCKET", "OTHER") and s]
IDS = [f"{m} {p}" for m, p, _ in HTTP_ROUTES]


def _policy(method: str, path: str) -> Scope | None:
    """The documented policy (README, "Access control"): a new route must fit it, or change it
    here on purpose."""
    if path in ("/api/v1/health", "/api/v1/ready"):
        return PUBLIC
    if method == "POST" and path in ("/api/v1/events", "/api/v1/events/batch"):
        return Scope.INGEST
    if method in ("GET", "WEBSOCKET") or path == "/api/v1/rules/backtest":
        return Scope.READ
    return Scope.ADMIN


@pytest.mark.parametrize(
    ("method", "path", "scopes"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES]
)
def test_every_route_declares_exactly_one_scope_and_it_follows_the_policy(
    method: str, path: str, scopes: list[Scope | None]
) -> None:
    if method == "OTHER":
        assert path in DOCS, f"{path}: only the API docs may be served outside a declared route"
        return
    assert len(scopes) == 1, f"{method} {path} declares {scopes}: use one of access.py's guards"
    assert scopes[0] == _policy(method, path)


def _url(path: str) -> str:
    return re.sub(r"\{[^}]+\}", ANY_ID, path)


def _call(client: Any, method: str, path: str, key: str | None) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    body: dict[str, Any] | None = {} if method in ("POST", "PUT", "PATCH") else None
    return client.request(method, _url(path), headers=headers, json=body)


def _wrong_key(keys: FakeKeys, needed: Scope) -> str:
    return keys.create(Scope.READ if needed is Scope.INGEST else Scope.INGEST)


@pytest.mark.parametrize("fast_ingest", [True, False], ids=["fast-path", "routes"])
@pytest.mark.parametrize(("method", "path", "needed"), HTTP_ROUTES, ids=IDS)
def test_each_endpoint_answers_401_without_a_key_and_403_with_the_wrong_scope(
    method: str, path: str, needed: Scope | None, fast_ingest: bool
) -> None:
    keys = FakeKeys()
    right = keys.create(needed or Scope.READ)
    wrong = _wrong_key(keys, needed or Scope.READ)
    with serve(access=access_over(keys), fast_ingest=fast_ingest, heartbeat_s=0.05) as client:
        anonymous = _call(client, method, path, None)
        bad = _call(client, method, path, "ep_0123456789ab_not-the-secret")
        forbidden = _call(client, method, path, wrong)
        allowed = _call(client, method, path, right)

    assert allowed.status_code not in (401, 403), allowed.text
    if needed is PUBLIC:
        assert {anonymous.status_code, forbidden.status_code} & {401, 403} == set()
        return
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == 'Bearer realm="eventpulse"'
    assert "Authorization: Bearer" in anonymous.json()["detail"]
    assert bad.status_code == 401
    assert bad.headers["www-authenticate"].endswith('error="invalid_token"')
    assert forbidden.status_code == 403
    assert forbidden.headers["www-authenticate"].endswith(
        f'error="insufficient_scope", scope="{needed}"'
    )
    assert f"needs {needed}" in forbidden.json()["detail"]


@pytest.mark.parametrize(("method", "path", "needed"), HTTP_ROUTES, ids=IDS)
def test_an_admin_key_may_do_everything(method: str, path: str, needed: Scope | None) -> None:
    keys = FakeKeys()
    admin = keys.create(Scope.ADMIN)
    with serve(access=access_over(keys), heartbeat_s=0.05) as client:
        assert _call(client, method, path, admin).status_code not in (401, 403)


WS = "/api/v1/ws/anomalies"


@pytest.mark.parametrize(
    ("key_scope", "code"), [(None, 4401), (Scope.INGEST, 4403)], ids=["no-key", "ingest-key"]
)
def test_the_websocket_is_closed_with_4401_or_4403_and_the_reason(
    key_scope: Scope | None, code: int
) -> None:
    keys = FakeKeys()
    keys.create(Scope.ADMIN)
    query = f"?token={keys.create(key_scope)}" if key_scope else ""
    with (
        serve(access=access_over(keys)) as client,
        client.websocket_connect(f"{WS}{query}") as ws,
        pytest.raises(WebSocketDisconnect) as closed,
    ):
        ws.receive_json()

    assert closed.value.code == code
    assert ("API key" in closed.value.reason) and ("read" in closed.value.reason or code == 4401)


@pytest.mark.parametrize("how", ["header", "query"])
def test_the_websocket_serves_a_read_key_from_the_header_or_the_token_parameter(how: str) -> None:
    keys = FakeKeys()
    key = keys.create(Scope.READ)
    headers = {"Authorization": f"Bearer {key}"} if how == "header" else {}
    query = f"?token={key}&severity=critical" if how == "query" else "?severity=critical"
    with (
        serve(access=access_over(keys), heartbeat_s=0.05) as client,
        client.websocket_connect(f"{WS}{query}", headers=headers) as ws,
    ):
        assert set(ws.receive_json()) == {"heartbeat"}


def test_a_token_parameter_is_not_accepted_on_plain_http() -> None:
    keys = FakeKeys()
    key = keys.create(Scope.READ)
    with serve(access=access_over(keys)) as client:
        assert client.get(f"/api/v1/events?token={key}").status_code == 401


# --- without keys: loopback only ---


@pytest.mark.parametrize("fast_ingest", [True, False], ids=["fast-path", "routes"])
def test_with_no_key_the_api_serves_loopback_clients_without_authentication(
    fast_ingest: bool,
) -> None:
    event = {"event_type": "login", "source": "web"}
    access = access_over(FakeKeys())
    with serve(access=access, client_host="127.0.0.1", fast_ingest=fast_ingest) as local:
        assert local.post("/api/v1/events", json=event).status_code == 202
        assert local.get("/api/v1/rules").status_code == 200
    with serve(access=access, client_host="::1", fast_ingest=fast_ingest) as local6:
        assert local6.get("/api/v1/rules").status_code == 200
    with serve(access=access, client_host="192.0.2.7", fast_ingest=fast_ingest) as remote:
        refused = remote.post("/api/v1/events", json=event)
        assert remote.get("/api/v1/health").status_code == 200
    assert refused.status_code == 401
    assert refused.json()["detail"] == NO_KEYS


def test_with_no_key_remote_clients_are_served_only_when_explicitly_allowed() -> None:
    access = access_over(FakeKeys(), allow_unauthenticated=True)
    with serve(access=access, client_host="192.0.2.7") as remote:
        assert remote.get("/api/v1/rules").status_code == 200


def test_once_a_key_exists_loopback_clients_need_one_too() -> None:
    keys = FakeKeys()
    keys.create(Scope.ADMIN)
    with serve(access=access_over(keys), client_host="127.0.0.1") as local:
        assert local.get("/api/v1/rules").status_code == 401


# --- caching, revocation, store outages ---


def test_keys_are_looked_up_once_per_ttl_and_a_revoked_key_is_refused_after_it() -> None:
    keys, clock = FakeKeys(), FakeClock()
    key = keys.create(Scope.READ)
    keys.create(Scope.ADMIN)  # another key stays active: the API does not fall back to open
    with serve(access=access_over(keys, clock)) as client:
        auth = {"Authorization": f"Bearer {key}"}
        statuses = [client.get("/api/v1/rules", headers=auth).status_code for _ in range(20)]
        assert (statuses, keys.finds) == ([200] * 20, 1)
        keys.revoke(key.split("_")[1], at=T0)
        clock.advance(3.0)
        assert client.get("/api/v1/rules", headers=auth).status_code == 200  # still cached
        clock.advance(2.5)  # past the 5 s TTL
        refused = client.get("/api/v1/rules", headers=auth)

    assert refused.status_code == 401
    assert refused.json()["detail"] == "invalid or revoked API key"


def test_with_postgres_down_known_keys_keep_working_and_unknown_ones_get_503() -> None:
    keys, clock = FakeKeys(), FakeClock()
    known, other = keys.create(Scope.INGEST), keys.create(Scope.INGEST)
    event = {"event_type": "login", "source": "web"}
    with serve(access=access_over(keys, clock)) as client:
        ok = client.post("/api/v1/events", json=event, headers={"Authorization": f"Bearer {known}"})
        keys.unavailable = True
        clock.advance(60)
        stale = client.post(
            "/api/v1/events", json=event, headers={"Authorization": f"Bearer {known}"}
        )
        unknown = client.post(
            "/api/v1/events", json=event, headers={"Authorization": f"Bearer {other}"}
        )

    assert (ok.status_code, stale.status_code) == (202, 202)
    assert unknown.status_code == 503
    assert unknown.headers["retry-after"] == "1"


# --- rate limits ---


@pytest.mark.parametrize("fast_ingest", [True, False], ids=["fast-path", "routes"])
def test_a_key_over_its_rate_gets_429_with_retry_after_until_its_bucket_refills(
    fast_ingest: bool,
) -> None:
    keys, clock = FakeKeys(), FakeClock()
    limited, free = keys.create(Scope.INGEST, rate=2), keys.create(Scope.INGEST)
    event = {"event_type": "login", "source": "web"}

    def post(key: str) -> Any:
        return client.post("/api/v1/events", json=event, headers={"Authorization": f"Bearer {key}"})

    with serve(access=access_over(keys, clock), fast_ingest=fast_ingest) as client:
        burst = [post(limited).status_code for _ in range(3)]
        refused = post(limited)
        others = [post(free).status_code for _ in range(5)]
        clock.advance(0.5)  # one token back
        after = post(limited).status_code

    assert burst == [202, 202, 429]
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    assert "2 events/s" in refused.json()["detail"]
    assert others == [202] * 5
    assert after == 202


def test_a_batch_costs_one_token_per_event_and_may_overdraw_the_bucket() -> None:
    keys, clock = FakeKeys(), FakeClock()
    key = keys.create(Scope.INGEST, rate=2)
    auth = {"Authorization": f"Bearer {key}"}
    batch = [{"event_type": "login", "source": "web"}] * 8
    with serve(access=access_over(keys, clock)) as client:
        first = client.post("/api/v1/events/batch", json=batch, headers=auth)
        refused = client.post("/api/v1/events/batch", json=batch, headers=auth)
        clock.advance(3.0)  # 2 - 8 + 6 = 0 tokens: not yet
        still = client.post("/api/v1/events/batch", json=batch, headers=auth)
        clock.advance(0.5)
        again = client.post("/api/v1/events/batch", json=batch, headers=auth)

    assert first.status_code == 202
    assert (refused.status_code, refused.headers["retry-after"]) == (429, "4")
    assert (still.status_code, still.headers["retry-after"]) == (429, "1")
    assert again.status_code == 202


def test_the_openapi_document_offers_the_bearer_scheme() -> None:
    with serve() as client:
        document = client.get("/openapi.json").json()

    assert document["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
    assert document["paths"]["/api/v1/rules"]["get"]["security"] == [{"ApiKey": []}]
    assert "security" not in document["paths"]["/api/v1/health"]["get"]
