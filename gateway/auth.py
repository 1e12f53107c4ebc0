"""Bearer-token (or console session) authentication, role checks and the object-level policy
for every /api/v1 route.

Every API handler declares its roles and its policy with @requires (the policies are in
gateway/scope.py: which object the route acts on, or how its list is filtered); the policy runs
after the role check, before the handler. A middleware refuses any /api/v1 route that forgot
to, and openapi.api_route refuses to add one, so a new route is closed until someone decides
who may call it and what they may see. Admin may call everything. Token look-ups are cached
for a few seconds so the ingest hot path does not pay a Redis round trip per request; a
revoked token stops working within TOKEN_CACHE_SECONDS."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Protocol

from aiohttp import web
from redis.exceptions import RedisError

from deskgate.gateway.appkeys import KEYS, METRICS, REDIS
from deskgate.gateway.errors import ApiError
from deskgate.models.enums import Role
from deskgate.queue.sessions import load_session
from deskgate.queue.tokens import TokenInfo, lookup_token

TOKEN_CACHE_SECONDS = 5.0
PRINCIPAL = web.RequestKey("principal", TokenInfo)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
TOKEN_CACHE = web.AppKey("token_cache", dict)


SESSION_COOKIE = "dg_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def session_principal(request: web.Request, session_id: str) -> TokenInfo:
    """The console's cookie session; a state change must also carry the session's CSRF token
    (a header a cross-site form cannot set)."""
    try:
        session = await load_session(request.app[REDIS], request.app[KEYS], session_id)
    except (RedisError, OSError) as exc:
        raise ApiError(503, "storage unavailable, retry later",
                       headers={"Retry-After": "5"}) from exc
    if session is None:
        request.app[METRICS].inc("deskgate_auth_failures_total", reason="bad_session")
        raise ApiError(401, "session expired or signed out: sign in again")
    if request.method not in SAFE_METHODS and not session.csrf_ok(
            request.headers.get(CSRF_HEADER, "")):
        request.app[METRICS].inc("deskgate_auth_failures_total", reason="csrf")
        raise ApiError(403, f"missing or wrong {CSRF_HEADER} header")
    return session.principal


async def authenticate(request: web.Request) -> TokenInfo:
    header = request.headers.get("Authorization", "")
    if not header and (session_id := request.cookies.get(SESSION_COOKIE)):
        return await session_principal(request, session_id)
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "missing bearer token: send `Authorization: Bearer <token>` "
                            "(create one with `deskgate token create --role ...`)",
                       headers={"WWW-Authenticate": "Bearer"})
    now = time.monotonic()
    cache: dict[str, tuple[float, TokenInfo | None]] = request.app[TOKEN_CACHE]
    hit = cache.get(token)
    if hit and hit[0] > now:
        info = hit[1]
    else:
        try:
            info = await lookup_token(request.app[REDIS], request.app[KEYS], token.strip())
        except (RedisError, OSError) as exc:
            raise ApiError(503, "storage unavailable, retry later",
                           headers={"Retry-After": "5"}) from exc
        if len(cache) > 10_000:
            cache.clear()
        cache[token] = (now + TOKEN_CACHE_SECONDS, info)
    if info is None:
        request.app[METRICS].inc("deskgate_auth_failures_total", reason="bad_token")
        raise ApiError(401, "unknown or revoked token", headers={"WWW-Authenticate": "Bearer"})
    return info


class Policy(Protocol):
    """What a route may read or change for the caller (implemented in gateway/scope.py)."""

    name: str
    rule: str                     # one line for the OpenAPI document and docs

    def check_roles(self, roles: frozenset[Role]) -> None:
        """Refuse, at declaration, roles this policy cannot serve."""

    async def admit(self, request: web.Request) -> None:
        """Resolve the caller's scope (and the route's object) or raise ApiError."""


def requires(*roles: Role, policy: Policy) -> Callable[[Handler], Handler]:
    allowed = frozenset(roles) | {Role.ADMIN}
    policy.check_roles(allowed)

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        async def checked(request: web.Request) -> web.StreamResponse:
            info = await authenticate(request)
            if info.role not in allowed:
                request.app[METRICS].inc("deskgate_auth_failures_total", reason="forbidden")
                raise ApiError(403, f"role {info.role} may not do this; needs one of "
                                    f"{', '.join(sorted(r.value for r in allowed))}")
            request[PRINCIPAL] = info
            await policy.admit(request)
            return await handler(request)

        checked.__deskgate_roles__ = allowed  # type: ignore[attr-defined]
        checked.__deskgate_policy__ = policy  # type: ignore[attr-defined]
        return checked

    return decorate


def principal(request: web.Request) -> TokenInfo:
    return request[PRINCIPAL]


def declared_roles(handler: object) -> frozenset[Role] | None:
    return getattr(handler, "__deskgate_roles__", None)


def declared_policy(handler: object) -> Policy | None:
    return getattr(handler, "__deskgate_policy__", None)
