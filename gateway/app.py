"""The aiohttp application factory: one place that wires routes, middlewares and the
background parts (triage workers, lease sweeper, mail listeners) through cleanup contexts."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import msgspec
from aiohttp import web

from deskgate.gateway import (
    api_channels,
    api_messages,
    api_models,
    api_records,
    api_review,
    api_sla,
    api_tickets,
    api_work,
    console,
    health,
    imap,
    smtp,
    webhooks,
    worker,
)
from deskgate.gateway.appkeys import CONFIG, DATA_DIR, INGEST, KEYS, METRICS, REDIS
from deskgate.gateway.auth import TOKEN_CACHE, declared_roles
from deskgate.gateway.config import Config
from deskgate.gateway.errors import ApiError, json_error
from deskgate.gateway.metrics import Metrics
from deskgate.queue import connection
from deskgate.queue.ingest import Ingest
from deskgate.queue.keys import Keys

log = logging.getLogger("deskgate.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/api/v1/") and request.path != "/api/v1/openapi.json":
        route_handler = request.match_info.route.handler
        if request.match_info.http_exception is None and declared_roles(route_handler) is None:
            log.error("route %s declares no roles; refusing it", request.path)
            return json_error(403, "this route declares no roles and is closed")
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except web.HTTPRequestEntityTooLarge:
        return json_error(413, f"body larger than {request.app[CONFIG].http.max_body_bytes} bytes")
    except web.HTTPException as exc:
        if exc.status >= 400 and request.path.startswith(("/api/", "/webhooks/")):
            return json_error(exc.status, exc.reason)
        raise
    except msgspec.ValidationError as exc:
        return json_error(422, str(exc))


def create_app(config: Config, redis_url: str, data_dir: Path, *,
               run_workers: bool = True) -> web.Application:
    app = web.Application(middlewares=[error_middleware],
                          client_max_size=config.http.max_body_bytes)
    app[CONFIG] = config
    app[DATA_DIR] = data_dir
    app[KEYS] = Keys(config.redis_prefix)
    app[METRICS] = Metrics()
    app[TOKEN_CACHE] = {}

    async def redis_ctx(app: web.Application) -> AsyncIterator[None]:
        client = connection.async_client(redis_url)
        app[REDIS] = client
        app[INGEST] = Ingest(client, app[KEYS])
        yield
        await client.aclose()

    app.cleanup_ctx.append(redis_ctx)
    health.setup(app)
    api_messages.setup(app)
    api_records.setup(app)
    api_tickets.setup(app)
    api_work.setup(app)
    api_review.setup(app)
    webhooks.setup(app)
    api_channels.setup(app)
    api_sla.setup(app)
    smtp.setup(app)  # only when email inboxes are configured
    imap.setup(app)
    console.setup(app)
    api_models.setup(app, redis_url)
    if run_workers:
        worker.setup(app, redis_url)
    return app
