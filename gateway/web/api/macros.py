"""Macros (canned replies) over the REST API: admins keep them; agents and managers list them,
see one filled in for a ticket, and send a reply with one (its status, skill and labels are
then applied to the ticket, each through the ticket's own audited actions)."""

from __future__ import annotations

from aiohttp import web

from deskgate.gateway.web.api.common import (
    macro_id_of,
    macro_of,
    macros,
    rendered,
    target_queue,
)
from deskgate.gateway.web.auth import requires
from deskgate.gateway.web.body import decode_body
from deskgate.gateway.web.errors import ApiError
from deskgate.gateway.web.scope import ADMIN, FILTERED, TICKET, target
from deskgate.models.codec import to_builtins
from deskgate.models.enums import Role
from deskgate.models.macros import VARIABLES, Macro
from deskgate.models.ticket import Ticket

MAX_MACRO_BYTES = 32 * 1024


@requires(Role.AGENT, Role.MANAGER, Role.ADMIN, policy=FILTERED)
async def list_macros(request: web.Request) -> web.Response:
    """Every macro, with the variables its texts may use."""
    return web.json_response({"macros": [{"id": k, **to_builtins(m)}
                                         for k, m in (await macros(request).all()).items()],
                              "variables": VARIABLES})


@requires(Role.ADMIN, policy=ADMIN)
async def put_macro(request: web.Request) -> web.Response:
    """Create or replace a macro: title, zh and en texts, optional set_status, set_skill,
    labels."""
    macro_id = macro_id_of(request)
    macro: Macro = decode_body(await request.read(), Macro, max_bytes=MAX_MACRO_BYTES)
    if macro.set_skill:
        target_queue(macro.set_skill, 1)
    if not await macros(request).put(macro_id, macro):
        raise ApiError(409, "too many macros: delete some first")
    return web.json_response({"id": macro_id, **to_builtins(macro)})


@requires(Role.ADMIN, policy=ADMIN)
async def delete_macro(request: web.Request) -> web.Response:
    """Delete a macro."""
    if not await macros(request).delete(macro_id_of(request)):
        raise ApiError(404, "no such macro")
    return web.json_response({"deleted": request.match_info["macro_id"]})


@requires(Role.AGENT, Role.MANAGER, policy=TICKET)
async def preview(request: web.Request) -> web.Response:
    """A macro filled in for this ticket (in the customer's language), for the reply box."""
    ticket = target(request, Ticket)
    macro = await macro_of(request, macro_id_of(request))
    return web.json_response({"macro": request.match_info["macro_id"],
                              "text": await rendered(request, ticket, macro),
                              **{k: v for k, v in to_builtins(macro).items()
                                 if k in ("set_status", "set_skill", "labels")}})


