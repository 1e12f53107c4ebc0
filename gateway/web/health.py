"""Liveness, Prometheus metrics and the OpenAPI document."""

from __future__ import annotations

import logging
import time

from aiohttp import web
from redis.exceptions import RedisError

from deskgate.gateway.appkeys import KEYS, METRICS, PERSISTENCE, REDIS
from deskgate.gateway.edge import QuietLog
from deskgate.gateway.web.metrics import CONTENT_TYPE, describe, exposition
from deskgate.gateway.web.openapi import document

_QUIET = QuietLog(logging.getLogger("deskgate.health"))
describe("deskgate_persistence_refusing",
         "1 while new messages are refused because persistence is failing or the disk is low")


async def healthz(request: web.Request) -> web.Response:
    """Fixed words only: anyone may ask, and Redis's error text names its socket path or
    internal host:port (the detail goes to the log, bounded)."""
    try:
        await request.app[REDIS].ping()
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
    body = await exposition(app[METRICS], app[REDIS], app[KEYS], time.time(),
                            refusing=app[PERSISTENCE].refusal is not None)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE,
                                            "X-Content-Type-Options": "nosniff"})


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(document(request.app))
