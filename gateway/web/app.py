"""The aiohttp application factory, the one composition root: it wires the middlewares, the
services (Redis clients, token cache, SLA config, mail listeners, triage workers) through
cleanup contexts, and the routes (all listed in gateway/web/routes.py). No other module
registers routes or services of another."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from aiohttp import web

from deskgate.gateway import edge, knowledge, sla_config
from deskgate.gateway.appkeys import (
    CONFIG,
    CONTROL_REDIS,
    DATA_DIR,
    INGEST,
    KEYS,
    METRICS,
    PERSISTENCE,
    REDIS,
    SYNC_REDIS,
)
from deskgate.gateway.config import Config, ConfigError
from deskgate.gateway.errors import as_deskgate_error
from deskgate.gateway.mail import imap, smtp
from deskgate.gateway.web import auth, console, routes, webhooks
from deskgate.gateway.web.auth import declared_roles
from deskgate.gateway.web.errors import error_response, json_error
from deskgate.gateway.web.metrics import Metrics
from deskgate.gateway.workers import triage as triage_worker
from deskgate.gateway.workers import wecom_sync
from deskgate.models.errors import Unavailable
from deskgate.models.ids import PATH_IDS
from deskgate.queue import connection
from deskgate.queue.ingest import Ingest
from deskgate.queue.persistence import PersistenceGuard

log = logging.getLogger("deskgate.http")
UNAVAILABLE_LOG = edge.QuietLog(log)
# one each: the revocation listener's subscription, the guard's check, /healthz's ping and
# a /metrics scrape
CONTROL_CONNECTIONS = 4

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The one place where failures become answers: a DeskgateError (or what as_deskgate_error
    makes of a Redis failure) becomes its status and the JSON error shape; every id in the
    path is checked against its pattern (models/ids.py) before any handler sees it."""
    if request.path.startswith("/api/v1/") and request.path != "/api/v1/openapi.json":
        route_handler = request.match_info.route.handler
        if request.match_info.http_exception is None and declared_roles(route_handler) is None:
            log.error("route %s declares no roles; refusing it", request.path)
            return json_error(403, "this route declares no roles and is closed")
    try:
        for name, value in request.match_info.items():
            if (rule := PATH_IDS.get(name)) is not None:
                rule.check(value, name)
        await edge.read_body(request)
        return await handler(request)
    except web.HTTPRequestEntityTooLarge:
        return json_error(413, f"body larger than {request.app[CONFIG].http.max_body_bytes} bytes")
    except web.HTTPException as exc:
        if exc.status >= 400 and request.path.startswith(("/api/", "/webhooks/")):
            return json_error(exc.status, exc.reason)
        raise
    except Exception as exc:
        error = as_deskgate_error(exc)
        if error is None:
            raise
        if isinstance(error, Unavailable) and error is not exc:
            UNAVAILABLE_LOG.log(logging.WARNING, "%s %s: %s: %s", request.method, request.path,
                                type(exc).__name__, exc)
        return error_response(error)


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    # Every answer, API JSON or a provider handshake's echo, is only what it says it is.
    response.headers.setdefault("X-Content-Type-Options", "nosniff")


def create_app(config: Config, redis_url: str, data_dir: Path, *,
               run_workers: bool = True) -> web.Application:
    app = web.Application(middlewares=[error_middleware],
                          client_max_size=config.http.max_body_bytes,
                          handler_args=edge.handler_args(config))
    app.on_response_prepare.append(_security_headers)
    app[CONFIG] = config
    app[DATA_DIR] = data_dir
    app[KEYS] = config.keys()
    if connection.is_cluster(redis_url) and not config.tenant:
        raise ConfigError("on a Redis Cluster every key of a deployment must share one hash slot: "
                          "set `tenant:` in the config (README, \"Redis Cluster\")")
    app[METRICS] = Metrics()

    async def redis_ctx(app: web.Application) -> AsyncIterator[None]:
        pool = config.redis_pool
        client = connection.async_client(redis_url, max_connections=pool.max_connections,
                                         pool_timeout=pool.wait_seconds)
        app[REDIS] = client
        app[CONTROL_REDIS] = connection.async_client(
            redis_url, max_connections=CONTROL_CONNECTIONS, pool_timeout=pool.wait_seconds)
        guard = PersistenceGuard(app[CONTROL_REDIS], config.durability, redis_url, data_dir)
        await guard.start()
        app[PERSISTENCE] = guard
        app[INGEST] = Ingest(client, app[KEYS], durability=config.durability, guard=guard)
        checks = asyncio.create_task(guard.run())
        yield
        checks.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await checks
        await client.aclose()
        await app[CONTROL_REDIS].aclose()

    async def sync_redis_ctx(app: web.Application) -> AsyncIterator[None]:
        app[SYNC_REDIS] = connection.sync_client(redis_url)
        yield
        app[SYNC_REDIS].close()

    # Services, in start order (each cleanup context after the Redis client it uses).
    app.cleanup_ctx.append(redis_ctx)
    auth.setup(app)              # token cache and revocation listener
    webhooks.setup(app)          # the live webhook accounts
    wecom_sync.setup(app)        # fetches 微信客服 messages a WeCom callback announces
    sla_config.setup(app)       # teams and SLA config, read by scope, work and sla routes
    smtp.setup(app)              # only when email inboxes are configured
    imap.setup(app)
    console.setup(app)           # live-event hub
    knowledge.setup(app)         # article and resolved-ticket indexes, kept current
    app.cleanup_ctx.append(sync_redis_ctx)
    if run_workers:
        triage_worker.setup(app, redis_url)
    routes.add_routes(app)
    return app
