"""The teams and SLA policies in force for this gateway's API: the admin's stored document or
the config file's `work:` section, re-read within a second of a change (queue/sla_store.py).
Workers keep their own WorkStore (gateway/workers/work_loop.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from deskgate.gateway.web.appkeys import CONFIG, KEYS, REDIS
from deskgate.models.sla import WorkConfig
from deskgate.queue.sla_store import WorkStore

WORK_STORE = web.AppKey("work_store", WorkStore)


async def current(app: web.Application) -> WorkConfig:
    return await app[WORK_STORE].current()


def setup(app: web.Application) -> None:
    async def store_ctx(app: web.Application) -> AsyncIterator[None]:
        app[WORK_STORE] = WorkStore(app[REDIS], app[KEYS], app[CONFIG].work)
        yield

    app.cleanup_ctx.append(store_ctx)   # after the Redis context, which create_app adds first
