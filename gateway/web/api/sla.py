"""Admin API for teams and SLA policies (the `sla:` document: models/sla.py SlaConfig).

    GET    /api/v1/sla     the document in force and where it came from
    PUT    /api/v1/sla     replace it (JSON or YAML); validated, the offending field named
    DELETE /api/v1/sla     drop the admin's document: the config file's applies again

Stored in Redis and picked up by every worker's SLA sweeper and notifier, and by every
gateway, within about a second, without a restart. New clocks use the new policies; clocks
already running keep the due times they were started with. A team's webhook_secret is
write-only: GET reports whether it is set; a PUT that leaves it empty keeps the stored one."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from deskgate.gateway import sla_config
from deskgate.gateway.web.auth import requires
from deskgate.gateway.web.body import decode_document
from deskgate.gateway.web.scope import ADMIN, scope
from deskgate.models.codec import to_builtins
from deskgate.models.enums import Role
from deskgate.models.sla import SlaConfig
from deskgate.queue.sla_store import SlaConfigStore, keep_secrets

MAX_WORK_BYTES = 256 * 1024
SECRET = "webhook_secret"


def _store(request: web.Request) -> SlaConfigStore:
    return request.app[sla_config.SLA_CONFIG_STORE]


def document(config: SlaConfig) -> dict[str, Any]:
    """The document without secret values: {"sla": ..., "teams": ..., "secrets": {...}}."""
    doc = to_builtins(config)
    secrets = {}
    for name, team in doc["teams"].items():
        secret = team.pop(SECRET, "")
        secrets[f"teams.{name}.{SECRET}"] = {"set": bool(secret)}
    return doc | {"secrets": secrets}


@requires(Role.ADMIN, policy=ADMIN)
async def get_sla(request: web.Request) -> web.Response:
    """Teams and SLA policies in force, and where they came from (config file or admin API)."""
    store = _store(request)
    config = await store.current(fresh=True)
    return web.json_response({"config": document(config), **await store.source()})


@requires(Role.ADMIN, policy=ADMIN)
async def put_sla(request: web.Request) -> web.Response:
    """Replace teams and SLA policies (JSON or YAML); validated; live everywhere within ~1 s."""
    store = _store(request)
    previous = await store.current(fresh=True)
    config = decode_document(await request.read(), SlaConfig, what="the SLA document",
                             max_bytes=MAX_WORK_BYTES,
                             prepare=lambda doc: keep_secrets(doc, previous))
    rev = await store.put(config, scope(request).actor)
    return web.json_response({"config": document(config), "rev": rev})


@requires(Role.ADMIN, policy=ADMIN)
async def reset_sla(request: web.Request) -> web.Response:
    """Drop the admin's teams and policies: the config file's apply again."""
    store = _store(request)
    await store.reset(scope(request).actor)
    return web.json_response({"config": document(store.fallback), "source": "config file"})
