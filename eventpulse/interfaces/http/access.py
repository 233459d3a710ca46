"""Every endpoint declares the scope it needs: one of the dependencies below, on its route.

`PUBLIC` (open to anyone: liveness and readiness probes), `READ` (reads, backtests),
`READ_WEBSOCKET` (the live anomaly WebSocket), `READ_LINK` (a document a browser opens from a
link: a report's HTML or notebook), `ADMIN` (rule and silence changes) and
`Ingesting` (the ingestion routes, which also get the caller's key to charge its rate limit).
A unit test walks the app's routes and fails for a route without exactly one of them, so no
endpoint is left open by omission.

Keys come as `Authorization: Bearer <key>`; a WebSocket and a `READ_LINK` document may instead
pass `?token=<key>`, since a browser sets no header on a WebSocket or on a link it follows
(such pages are served with `Referrer-Policy: no-referrer`, so the token does not travel on).
A refused WebSocket is accepted, then closed with 4401 or 4403 and the reason (like 4422 for a
bad parameter): a refused handshake tells a browser nothing. The ingestion fast path
(`fast_ingest.py`) calls `authorize` itself.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Annotated, Any, Final
from urllib.parse import parse_qsl

from fastapi import Depends, Request, WebSocketException
from fastapi.params import Depends as DependsParam
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection
from starlette.types import Scope as AsgiScope
from starlette.websockets import WebSocket

from eventpulse.domain.access import ApiKey, Scope
from eventpulse.domain.errors import Forbidden, Unauthenticated
from eventpulse.interfaces.http.deps import ApiServices

CLOSE_UNAUTHORIZED: Final = 4401
CLOSE_FORBIDDEN: Final = 4403
TOKEN_PARAMETER: Final = "token"


def bearer_token(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (raw ASGI headers)."""
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").strip().partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            return None
    return None


def is_local(scope: AsgiScope) -> bool:
    """Whether the client connected over loopback or a Unix socket (no client address)."""
    client = scope.get("client")
    if not client:
        return True
    try:
        address = ipaddress.ip_address(client[0])
    except ValueError:
        return False  # not an address (a test client's name): treat it as remote
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


async def authorize(
    services: ApiServices, scope: AsgiScope, needed: Scope, *, query_token: bool = False
) -> ApiKey | None:
    """The caller's key (None while the API is open); raises `Unauthenticated`/`Forbidden`.
    `query_token`: the key may come as `?token=` (always so for a WebSocket)."""
    token = bearer_token(scope["headers"])
    if token is None and (query_token or scope["type"] == "websocket"):
        token = _query_token(scope)
    return await services.access.authorize(token, needed, local=lambda: is_local(scope))


def _query_token(scope: AsgiScope) -> str | None:
    query = scope.get("query_string", b"").decode("latin-1")
    return next((v for k, v in parse_qsl(query) if k == TOKEN_PARAMETER and v), None)


# Only documents the scheme in OpenAPI (the "Authorize" button of /docs); `authorize` reads
# the header itself, the same way for the routes and the fast path.
_BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key `ep_<id>_<secret>` from `eventpulse keys create`",
)
Documented = Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]


def _services(connection: HTTPConnection) -> ApiServices:
    services: ApiServices = connection.app.state.services
    return services


def _declaring(needed: Scope | None, guard: Any) -> Any:
    guard.required_scope = needed
    guard.__name__ = f"requires_{needed or 'nothing'}"
    return guard


def _public() -> Any:
    async def guard() -> None:
        return None

    return _declaring(None, guard)


def _http(needed: Scope) -> Any:
    async def guard(request: Request, _: Documented) -> ApiKey | None:
        return await authorize(_services(request), request.scope, needed)

    return _declaring(needed, guard)


def _link(needed: Scope) -> Any:
    async def guard(request: Request, _: Documented) -> ApiKey | None:
        return await authorize(_services(request), request.scope, needed, query_token=True)

    return _declaring(needed, guard)


def _websocket(needed: Scope) -> Any:
    async def guard(websocket: WebSocket) -> ApiKey | None:
        try:
            return await authorize(_services(websocket), websocket.scope, needed)
        except (Unauthenticated, Forbidden) as exc:
            code = CLOSE_UNAUTHORIZED if isinstance(exc, Unauthenticated) else CLOSE_FORBIDDEN
            await websocket.accept()
            raise WebSocketException(code, _fitted(str(exc))) from None

    return _declaring(needed, guard)


def _fitted(reason: str) -> str:
    return reason.encode()[:123].decode(errors="ignore")  # a close frame's limit


async def _ingest(request: Request, _: Documented) -> ApiKey | None:
    services = _services(request)
    key = await authorize(services, request.scope, Scope.INGEST)
    services.access.admit(key)
    return key


PUBLIC: Final[DependsParam] = Depends(_public())
READ: Final[DependsParam] = Depends(_http(Scope.READ))
ADMIN: Final[DependsParam] = Depends(_http(Scope.ADMIN))
READ_WEBSOCKET: Final[DependsParam] = Depends(_websocket(Scope.READ))
READ_LINK: Final[DependsParam] = Depends(_link(Scope.READ))
Ingesting = Annotated[ApiKey | None, Depends(_declaring(Scope.INGEST, _ingest))]


def ingest_cost(document: Any) -> int:
    """What an ingestion request costs its key's rate limit: one token per event sent."""
    return max(1, len(document)) if isinstance(document, list) else 1
