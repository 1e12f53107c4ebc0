"""A team's webhook that answers with a redirect does not steer Deskgate's signed POST to
another address (an internal service, a cloud metadata endpoint): a 3xx is a failed delivery,
retried later and dead-lettered like any other, never followed."""

from __future__ import annotations

import time

import aiohttp
from aiohttp import web

from deskgate.gateway.workers.work_loop import WorkLoop
from tests.work.test_api import _config


async def test_a_redirecting_team_webhook_is_not_followed(prefix, enqueue, aiohttp_server,
                                                          aclient, keys) -> None:
    internal: list[bytes] = []

    async def private(request: web.Request) -> web.Response:
        internal.append(await request.read())
        return web.json_response({"ok": True})

    inside = web.Application()
    inside.router.add_route("*", "/admin", private)
    inner = await aiohttp_server(inside)

    async def hook(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(str(inner.make_url("/admin")))   # 307 keeps the POST

    outside = web.Application()
    outside.router.add_post("/hook", hook)
    server = await aiohttp_server(outside)
    loop = WorkLoop(aclient, keys, _config(prefix, webhook=str(server.make_url("/hook"))),
                    "test-consumer")
    now = time.time()
    tid = await enqueue("billing", now - 3600)
    await loop.sla.start([tid], now - 3600)
    await loop.tick(now)
    async with aiohttp.ClientSession() as session:
        assert await loop.notifier.deliver(session) == 0
    assert internal == []
    # nothing was acknowledged: the events wait for a retry (and the dead-letter stream)
    pending = await aclient.xpending(keys.notify, "notify")
    assert pending["pending"] == 4
