"""Liveness, Prometheus metrics and the OpenAPI document."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from redis.exceptions import MaxConnectionsError, RedisError

from deskgate.gateway.appkeys import CONTROL_REDIS, KEYS, METRICS, PERSISTENCE
from deskgate.gateway.edge import QuietLog
from deskgate.gateway.web.metrics import CONTENT_TYPE, describe, exposition
from deskgate.gateway.web.openapi import document

_QUIET = QuietLog(logging.getLogger("deskgate.health"))
describe("deskgate_persistence_refusing",
         "1 while new messages are refused because persistence is failing or the disk is low")


async def healthz(request: web.Request) -> web.Response:
    """Fixed words only: anyone may ask, and Redis's error text names its socket path or
    internal host:port (the detail goes to the log, bounded). Pings on its own small client,
    so requests filling the main pool never make it fail."""
    try:
        await request.app[CONTROL_REDIS].ping()
    except MaxConnectionsError:
        pass  # other probes hold its connections now: the guard's latest check answers
    except (RedisError, OSError) as exc:
        _QUIET.log(logging.WARNING, "/healthz: Redis does not answer: %s", exc)
        return web.json_response({"status": "unavailable", "redis": "unreachable"}, status=503)
    refusal = request.app[PERSISTENCE].refusal
    if refusal:  # this gateway refuses new messages: a balancer should send them elsewhere
        # the guard logs the detail each time the reason changes
        return web.json_response({"status": "unavailable", "persistence": refusal.code},
                                 status=503)
    return web.json_response({"status": "ok"})


async def metrics(request: web.Request) -> web.Response:
    app = request.app
    # on the upkeep client: a busy request pool must not read as deskgate_redis_up 0
    body = await exposition(app[METRICS], app[CONTROL_REDIS], app[KEYS], time.time(),
                            refusing=app[PERSISTENCE].refusal is not None)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE,
                                            "X-Content-Type-Options": "nosniff"})


def openapi_handler() -> Callable[[web.Request], Awaitable[web.Response]]:
    """GET /api/v1/openapi.json for one app, built once: its routes are fixed before it starts,
    and building the document held the event loop ~15 ms per request (profiled), for anyone."""
    body: list[bytes] = []

    async def openapi(request: web.Request) -> web.Response:
        if not body:
            body.append(json.dumps(document(request.app)).encode())
        return web.Response(body=body[0], content_type="application/json")
    return openapi
