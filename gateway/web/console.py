"""The web console: one static page and its ES modules under /console, a cookie session made
from an API token, and a server-sent-event stream of the live boards.

The page talks to the same /api/v1 routes as every other client (auth.py accepts the session
cookie there, with a CSRF header on every state change), so the console can do nothing the API
does not allow. Every console response carries a strict Content-Security-Policy: scripts only
from this origin, no inline script, no eval, no framing; it and every /api/ answer the page
reads are marked no-store."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
from aiohttp import web
from redis.exceptions import RedisError

from deskgate.gateway.appkeys import CONFIG, KEYS, METRICS, REDIS
from deskgate.gateway.web.api.common import dashboard, visible_board
from deskgate.gateway.web.auth import PRINCIPAL, SESSION_COOKIE, authenticate
from deskgate.gateway.web.body import decode_body
from deskgate.gateway.web.client_address import client_address
from deskgate.gateway.web.errors import ApiError
from deskgate.gateway.web.scope import scope_of
from deskgate.models.enums import Role
from deskgate.models.errors import DeskgateError, RateLimited, Unavailable
from deskgate.models.scope import Scope
from deskgate.queue.connection import raise_if_cancelled
from deskgate.queue.dashboard import Board
from deskgate.queue.sessions import (
    ABSOLUTE_SECONDS,
    Session,
    create_session,
    end_session,
    give_back_login_attempt,
    load_session,
    login_source,
    take_login_attempt,
)
from deskgate.queue.tokens import lookup_token

log = logging.getLogger("deskgate.console")

STATIC_DIR = Path(__file__).parent / "static" / "console"
POLL_SECONDS = 1.0          # how often the hub re-reads the boards while anyone is watching
HEARTBEAT_SECONDS = 15.0    # keeps proxies from closing an idle stream; re-checks the session

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; font-src 'self'; manifest-src 'self'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}


class LoginIn(msgspec.Struct, forbid_unknown_fields=True):
    token: str


class _Watcher:
    """One open event stream: the latest board it has not sent yet (a slow browser skips
    stale boards instead of queueing them)."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.sent = b""
        self.pending: bytes | None = None
        self.closed = False
        self.wake = asyncio.Event()

    def offer(self, data: bytes) -> None:
        if data != self.sent:
            self.pending = data
            self.wake.set()

    def close(self) -> None:
        self.closed = True
        self.wake.set()


class Hub:
    """Reads the boards once per POLL_SECONDS for all watchers together, only while someone
    watches, and hands each watcher the part its role may see."""

    def __init__(self, app: web.Application) -> None:
        self._app = app
        self._watchers: set[_Watcher] = set()
        self._task: asyncio.Task[None] | None = None
        self._encoder = msgspec.json.Encoder()

    def watch(self, scope: Scope) -> _Watcher:
        w = _Watcher(scope)
        self._watchers.add(w)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        return w

    def unwatch(self, w: _Watcher) -> None:
        self._watchers.discard(w)

    async def _run(self) -> None:
        dash = dashboard(self._app)
        while self._watchers:
            try:
                self.publish(await dash.board())
            except (RedisError, OSError) as exc:
                raise_if_cancelled(exc)
                log.warning("console board unavailable: %s", exc)
            await asyncio.sleep(POLL_SECONDS)

    def publish(self, board: Board) -> None:
        for w in list(self._watchers):
            w.offer(self._encoder.encode(visible_board(board, w.scope)))

    async def close(self) -> None:
        for w in list(self._watchers):
            w.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


HUB = web.AppKey("console_hub", Hub)


def _secure(request: web.Request) -> bool:
    """Behind TLS (directly, or a proxy that says so, or a public https URL) the cookie is
    marked Secure; on plain loopback HTTP a Secure cookie would never be sent back."""
    return (request.secure or request.headers.get("X-Forwarded-Proto", "") == "https"
            or request.app[CONFIG].http.public_url.startswith("https://"))


def _session_json(session: Session, request: web.Request) -> dict[str, object]:
    p = session.principal
    return {"role": p.role.value, "agent_id": p.agent_id, "token_id": p.token_id,
            "label": p.label, "csrf": session.csrf,
            "crisis_line": request.app[CONFIG].console.crisis_line}


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    return origin is None or origin in (f"{request.scheme}://{request.host}",
                                        f"https://{request.host}")


async def login(request: web.Request) -> web.Response:
    """Exchange an API token for a session. JSON only and same-origin only, so a cross-site
    form cannot sign a browser into someone else's session."""
    if request.content_type != "application/json" or not _same_origin(request):
        raise ApiError(403, "sign in from the console page")
    body = decode_body(await request.read(), LoginIn)
    client, keys = request.app[REDIS], request.app[KEYS]
    source = login_source(client_address(request))
    try:
        wait = await take_login_attempt(client, keys, source)
        if wait:
            request.app[METRICS].inc("deskgate_auth_failures_total", reason="login_limited")
            raise RateLimited(f"too many failed sign-ins from your address; try again in "
                              f"{wait} s", retry_after=wait)
        token = body.token.strip()
        info = await lookup_token(client, keys, token)
        if info is not None:
            await give_back_login_attempt(client, keys, source)
        if info is None:
            request.app[METRICS].inc("deskgate_auth_failures_total", reason="console_login")
            raise ApiError(401, "unknown or revoked token")
        # refused before a session exists: no stored session for a token that cannot use it
        if info.role is Role.INTEGRATION:
            raise ApiError(403, "integration tokens post messages; they cannot use the console")
        session_id, session = await create_session(client, keys, token, info)
    except (RedisError, OSError) as exc:
        raise Unavailable() from exc
    resp = web.json_response(_session_json(session, request))
    resp.set_cookie(SESSION_COOKIE, session_id, httponly=True, samesite="Strict",
                    secure=_secure(request), path="/", max_age=ABSOLUTE_SECONDS)
    return resp


async def _current(request: web.Request) -> tuple[str, Session]:
    session_id = request.cookies.get(SESSION_COOKIE, "")
    if not session_id:
        raise ApiError(401, "not signed in")
    session = await load_session(request.app[REDIS], request.app[KEYS], session_id)
    if session is None:
        raise ApiError(401, "session expired or signed out: sign in again")
    return session_id, session


async def session_info(request: web.Request) -> web.Response:
    """Who is signed in, and the CSRF token the page sends back on state changes."""
    _, session = await _current(request)
    return web.json_response(_session_json(session, request))


async def logout(request: web.Request) -> web.Response:
    await authenticate(request)            # checks the CSRF header like any state change
    session_id, _ = await _current(request)
    await end_session(request.app[REDIS], request.app[KEYS], session_id)
    resp = web.json_response({"signed_out": True})
    resp.del_cookie(SESSION_COOKIE, path="/")
    return resp


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: `board` whenever queues, agents or the review queue change."""
    request[PRINCIPAL] = await authenticate(request)
    scope = await scope_of(request)
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                       "Cache-Control": "no-store",
                                       "X-Accel-Buffering": "no"})
    await resp.prepare(request)
    watcher = request.app[HUB].watch(scope)
    try:
        await resp.write(b"retry: 3000\n\n")
        while not watcher.closed:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(watcher.wake.wait(), HEARTBEAT_SECONDS)
            watcher.wake.clear()
            if watcher.closed:
                break
            if watcher.pending is None:
                await authenticate(request)   # a revoked token or ended session stops the stream
                await resp.write(b": ping\n\n")
                continue
            data, watcher.pending = watcher.pending, None
            await resp.write(b"event: board\ndata: " + data + b"\n\n")
            watcher.sent = data
    except DeskgateError:       # signed out, revoked, or storage gone: the page signs in again
        await resp.write(b"event: signed-out\ndata: {}\n\n")
    except ConnectionResetError:
        pass
    finally:
        request.app[HUB].unwatch(watcher)
    return resp


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "index.html",
                            headers={"Cache-Control": "no-store",
                                     "Content-Type": "text/html; charset=utf-8"})


async def to_index(request: web.Request) -> web.Response:
    raise web.HTTPFound("/console/")


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    if request.path.startswith("/console"):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.path.startswith("/console/static/"):
            # revalidate on every load (ETag/Last-Modified make it a 304): an upgrade is seen
            response.headers.setdefault("Cache-Control", "no-cache")
    if request.path.startswith(("/console", "/api/")):
        # The page reads /api/v1 with its cookie: customers' messages, the CSRF token and
        # token listings must not stay in the cache of a shared desk PC (or a proxy's).
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")


def setup(app: web.Application) -> None:
    """The live-event hub and the console's response headers (its routes: gateway/web/routes.py)."""
    async def hub_ctx(app: web.Application) -> AsyncIterator[None]:
        app[HUB] = Hub(app)
        yield

    async def close_streams(app: web.Application) -> None:
        await app[HUB].close()

    app.cleanup_ctx.append(hub_ctx)
    app.on_shutdown.append(close_streams)
    app.on_response_prepare.append(_headers)
