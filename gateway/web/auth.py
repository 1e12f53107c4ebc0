"""Bearer-token (or console session) authentication, role checks and the object-level policy
for every /api/v1 route.

Every API handler declares its roles and its policy with @requires (the policies are in
gateway/web/scope.py: which object the route acts on, or how its list is filtered); the policy runs
after the role check, before the handler. A middleware refuses any /api/v1 route that forgot
to, and routes.api_route refuses to add one, so a new route is closed until someone decides
who may call it and what they may see. Admin may call everything. Token look-ups are cached
for a few seconds so the ingest hot path does not pay a Redis round trip per request. A
revocation is published (queue/tokens.py) and every process drops the token from its cache as
it hears it; while a process is not subscribed (Redis lost, the subscription dropped) it does
not use its cache at all: every request asks Redis."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import wraps
from typing import Protocol

from aiohttp import web
from redis.exceptions import RedisError

from deskgate.gateway.appkeys import CONTROL_REDIS, KEYS, METRICS, REDIS
from deskgate.gateway.web.errors import ApiError
from deskgate.models.enums import Role
from deskgate.models.errors import Unavailable
from deskgate.queue.connection import open_pubsub, raise_if_cancelled
from deskgate.queue.sessions import load_session
from deskgate.queue.tokens import (
    TOKEN_LENGTH,
    TOKEN_PREFIX,
    TokenInfo,
    lookup_token,
    token_hash,
    well_formed,
)

log = logging.getLogger("deskgate.auth")

TOKEN_CACHE_SECONDS = 5.0
TOKEN_CACHE_MAX = 10_000
# Unknown tokens are kept apart and fewer: a client trying many cannot push the known ones out.
TOKEN_MISSES_MAX = 1_000
PRINCIPAL = web.RequestKey("principal", TokenInfo)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class TokenCache:
    """Token look-ups (hit or miss) kept TOKEN_CACHE_SECONDS, used only while `live`: while
    this process hears every revocation. `generation` moves with every revocation heard, so
    a look-up that raced with one is not cached. Known tokens (at most TOKEN_CACHE_MAX) and
    unknown ones (at most TOKEN_MISSES_MAX) are bounded apart; a full table starts over."""

    def __init__(self) -> None:
        self._hits: dict[str, tuple[float, TokenInfo]] = {}
        self._misses: dict[str, float] = {}
        self._loading: dict[str, asyncio.Task[TokenInfo | None]] = {}
        self.live = False
        self.generation = 0

    def __len__(self) -> int:
        return len(self._hits) + len(self._misses)

    def get(self, digest: str, now: float) -> tuple[bool, TokenInfo | None]:
        if not self.live:
            return False, None
        hit = self._hits.get(digest)
        if hit is not None and hit[0] > now:
            return True, hit[1]
        return self._misses.get(digest, 0.0) > now, None

    def put(self, digest: str, now: float, info: TokenInfo | None, generation: int) -> None:
        if not self.live or generation != self.generation:
            return
        expires = now + TOKEN_CACHE_SECONDS
        if info is None:
            if len(self._misses) >= TOKEN_MISSES_MAX:
                self._misses.clear()
            self._misses[digest] = expires
        else:
            if len(self._hits) >= TOKEN_CACHE_MAX:
                self._hits.clear()
            self._hits[digest] = (expires, info)

    async def load(self, digest: str, now: float,
                   fetch: Callable[[], Awaitable[TokenInfo | None]]) -> TokenInfo | None:
        """A look-up that missed: requests missing the same token at once share one `fetch`.
        Under load an entry expiring sent one Redis call per waiting request, past the
        connection pool's size (the gateway then answered 503)."""
        task = self._loading.get(digest)
        if task is None:
            generation = self.generation
            task = asyncio.ensure_future(fetch())
            self._loading[digest] = task

            def done(t: asyncio.Task[TokenInfo | None]) -> None:
                if self._loading.get(digest) is t:
                    del self._loading[digest]
                if not t.cancelled() and t.exception() is None:  # retrieved: no warning
                    self.put(digest, now, t.result(), generation)
            task.add_done_callback(done)
        # a waiter that goes away (its client hung up) does not cancel the others' look-up
        return await asyncio.shield(task)

    def forget(self, digest: str) -> None:
        self.generation += 1
        self._hits.pop(digest, None)
        self._loading.pop(digest, None)  # a request from now on asks Redis afresh

    async def reconnected(self, _connection: object) -> None:
        """redis-py's connect callback (it keeps a weak reference: a bound method it must be)."""
        log.warning("the revocation subscription was cut and is back: token cache emptied")
        self.set_live(True)

    def set_live(self, live: bool) -> None:
        """Entering or leaving the subscription: anything cached may have missed a revocation."""
        self.generation += 1
        self._hits.clear()
        self._misses.clear()
        self._loading.clear()
        self.live = live


TOKEN_CACHE = web.AppKey("token_cache", TokenCache)


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
    token = token.strip()
    if not well_formed(token):   # refused before it costs a hash, a look-up or a cache entry
        request.app[METRICS].inc("deskgate_auth_failures_total", reason="bad_token")
        raise ApiError(401, f"malformed token: a Deskgate token is {TOKEN_PREFIX} and "
                            f"{TOKEN_LENGTH - len(TOKEN_PREFIX)} more characters",
                       headers={"WWW-Authenticate": "Bearer"})
    now = time.monotonic()
    cache = request.app[TOKEN_CACHE]
    digest = token_hash(token)
    cached, info = cache.get(digest, now)
    if not cached:
        try:
            info = await cache.load(digest, now, lambda: lookup_token(
                request.app[REDIS], request.app[KEYS], token))
        except (RedisError, OSError) as exc:
            raise Unavailable() from exc
    if info is None:
        request.app[METRICS].inc("deskgate_auth_failures_total", reason="bad_token")
        raise ApiError(401, "unknown or revoked token", headers={"WWW-Authenticate": "Bearer"})
    return info


class Policy(Protocol):
    """What a route may read or change for the caller (implemented in gateway/web/scope.py)."""

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


async def _hear_revocations(app: web.Application, stop: asyncio.Event) -> None:
    cache, channel = app[TOKEN_CACHE], app[KEYS].token_revocations
    backoff = 0.5
    while not stop.is_set():
        pubsub = await open_pubsub(app[CONTROL_REDIS])
        try:
            await pubsub.subscribe(channel)
            while (await pubsub.get_message(timeout=5.0) or {}).get("type") != "subscribe":
                pass
            cache.set_live(True)
            # The client's retry policy (queue/connection.py) heals a cut connection and
            # resubscribes without raising here; revocations published while it was cut were
            # never heard, so the cache starts again empty on every reconnect.
            assert pubsub.connection is not None
            pubsub.connection.register_connect_callback(cache.reconnected)
            backoff = 0.5
            while not stop.is_set():
                msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if msg is not None:
                    cache.forget(msg["data"].decode())
        except (RedisError, OSError) as exc:
            # redis-py may turn a cancellation into a ConnectionError: a cancelled task must
            # still end, whether or not its context set `stop` (a loop torn down after a failure)
            raise_if_cancelled(exc)
            if cache.live and not stop.is_set():
                log.warning("not hearing token revocations (%s): every request asks Redis "
                            "until they are heard again", exc)
        finally:
            cache.set_live(False)
            if pubsub.connection is not None:
                pubsub.connection.deregister_connect_callback(cache.reconnected)
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), backoff)
        backoff = min(5.0, backoff * 2)


async def _revocations_ctx(app: web.Application) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(_hear_revocations(app, stop))
    yield
    stop.set()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    app[TOKEN_CACHE].set_live(False)


def setup(app: web.Application) -> None:
    """The token cache and its revocation listener (after the Redis client's context)."""
    app[TOKEN_CACHE] = TokenCache()
    app.cleanup_ctx.append(_revocations_ctx)
