"""Bearer-token (or console session) authentication and role checks for every /api/v1 route.

Every API handler declares its roles with @requires; a middleware refuses any /api/v1 route
that forgot to, so a new route is closed until someone decides who may call it. Admin may call
everything. Token look-ups are cached for a few seconds so the ingest hot path does not pay a
Redis round trip per request; a revoked token stops working within TOKEN_CACHE_SECONDS."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from functools import wraps

from aiohttp import web
from redis.exceptions import RedisError

from deskgate.gateway.appkeys import KEYS, METRICS, REDIS
from deskgate.gateway.errors import ApiError
from deskgate.models.enums import Role
from deskgate.models.errors import Unavailable
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
        raise Unavailable() from exc
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
            raise Unavailable() from exc
        if len(cache) > 10_000:
            cache.clear()
        cache[token] = (now + TOKEN_CACHE_SECONDS, info)
    if info is None:
        request.app[METRICS].inc("deskgate_auth_failures_total", reason="bad_token")
        raise ApiError(401, "unknown or revoked token", headers={"WWW-Authenticate": "Bearer"})
    return info


def requires(*roles: Role) -> Callable[[Handler], Handler]:
    allowed = frozenset(roles) | {Role.ADMIN}

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        async def checked(request: web.Request) -> web.StreamResponse:
            info = await authenticate(request)
            if info.role not in allowed:
                request.app[METRICS].inc("deskgate_auth_failures_total", reason="forbidden")
                raise ApiError(403, f"role {info.role} may not do this; needs one of "
                                    f"{', '.join(sorted(r.value for r in allowed))}")
            request[PRINCIPAL] = info
            return await handler(request)

        checked.__deskgate_roles__ = allowed  # type: ignore[attr-defined]
        return checked

    return decorate


def principal(request: web.Request) -> TokenInfo:
    return request[PRINCIPAL]


def declared_roles(handler: object) -> frozenset[Role] | None:
    return getattr(handler, "__deskgate_roles__", None)
