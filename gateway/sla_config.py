"""The teams and SLA policies in force for this gateway's API: the admin's stored document or
the config file's `sla:` section, re-read within a second of a change (queue/sla_store.py).
Workers keep their own SlaConfigStore (gateway/workers/work_loop.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from deskgate.gateway.appkeys import CONFIG, KEYS, REDIS
from deskgate.models.sla import SlaConfig
from deskgate.queue.sla_store import SlaConfigStore

SLA_CONFIG_STORE = web.AppKey("sla_config_store", SlaConfigStore)


async def current(app: web.Application) -> SlaConfig:
    return await app[SLA_CONFIG_STORE].current()


def setup(app: web.Application) -> None:
    async def store_ctx(app: web.Application) -> AsyncIterator[None]:
        app[SLA_CONFIG_STORE] = SlaConfigStore(app[REDIS], app[KEYS], app[CONFIG].sla)
        yield

    app.cleanup_ctx.append(store_ctx)   # after the Redis context, which create_app adds first
