"""Liveness, Prometheus metrics and the OpenAPI document."""

from __future__ import annotations

import logging

from aiohttp import web
from redis.exceptions import RedisError

from deskgate.gateway import model_watch
from deskgate.gateway.appkeys import KEYS, METRICS, PERSISTENCE, REDIS
from deskgate.gateway.edge import QuietLog
from deskgate.gateway.metrics import describe
from deskgate.gateway.openapi import document
from deskgate.queue.stats import E2E_BUCKETS, SharedStats
from deskgate.queue.stream import IngestReader
from deskgate.queue.work import Work

_QUIET = QuietLog(logging.getLogger("deskgate.health"))

describe("deskgate_queue_depth", "Open tickets waiting in a skill queue")
describe("deskgate_ingest_lag", "Ingest stream entries not yet triaged and acknowledged")
describe("deskgate_messages_accepted_total", "Messages durably accepted, by channel")
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
    client, keys = app[REDIS], app[KEYS]
    gauges: dict[str, dict[tuple[tuple[str, str], ...], float]] = {
        "deskgate_persistence_refusing": {(): float(app[PERSISTENCE].refusal is not None)}}
    try:
        depths = await Work(client, keys).queue_depths()
        gauges["deskgate_queue_depth"] = {(("skill", s),): n for s, n in depths.items()}
        gauges["deskgate_ingest_lag"] = {(): await IngestReader(client, keys, "-").lag()}
        shared = await SharedStats(client, keys).read()
        cumulative = 0.0
        hist: dict[tuple[tuple[str, str], ...], float] = {}
        for le in [*map(str, E2E_BUCKETS), "+Inf"]:
            cumulative += shared.get(f"e2e_bucket:{le}", 0)
            hist[(("le", le),)] = cumulative
        gauges["deskgate_e2e_seconds_bucket"] = hist
        gauges["deskgate_e2e_seconds_count"] = {(): shared.get("e2e_count", 0)}
        gauges["deskgate_e2e_seconds_sum"] = {(): shared.get("e2e_sum", 0)}
        gauges["deskgate_tickets_applied_total"] = {
            (("outcome", k.split(":", 1)[1]),): v for k, v in shared.items()
            if k.startswith("applied:")}
        gauges.update(await model_watch.version_gauges(client, keys))
    except (RedisError, OSError):
        gauges["deskgate_redis_up"] = {(): 0}
    return web.Response(text=app[METRICS].render(gauges),
                        content_type="text/plain", charset="utf-8",
                        headers={"X-Content-Type-Options": "nosniff"})


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(document(request.app))


def setup(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/api/v1/openapi.json", openapi)
