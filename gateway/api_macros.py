"""Macros (canned replies) over the REST API: admins keep them; agents and managers list them,
see one filled in for a ticket, and send a reply with one (its status, skill and labels are
then applied to the ticket, each through the ticket's own audited actions)."""

from __future__ import annotations

import json
import time
from typing import Any

from aiohttp import web

from deskgate.gateway.api_tickets import store, work
from deskgate.gateway.api_work import checked, sla, target_queue
from deskgate.gateway.appkeys import KEYS, REDIS
from deskgate.gateway.auth import requires
from deskgate.gateway.body import decode_body
from deskgate.gateway.errors import ApiError
from deskgate.gateway.openapi import api_route
from deskgate.gateway.scope import ADMIN, FILTERED, TICKET, scope, target
from deskgate.models.codec import to_builtins
from deskgate.models.enums import Role
from deskgate.models.errors import DeskgateError
from deskgate.models.macros import MACRO_ID, VARIABLES, Macro, render, variables
from deskgate.models.ticket import Ticket
from deskgate.queue.macros import MacroStore

MAX_MACRO_BYTES = 32 * 1024


def macros(request: web.Request) -> MacroStore:
    return MacroStore(request.app[REDIS], request.app[KEYS])


def _macro_id(request: web.Request) -> str:
    macro_id = request.match_info["macro_id"]
    if not MACRO_ID.match(macro_id):
        raise ApiError(400, "a macro id is 1-64 lower-case letters, digits, _ or -",
                       field="macro_id")
    return macro_id


async def macro_of(request: web.Request, macro_id: str) -> Macro:
    found = await macros(request).get(macro_id)
    if found is None:
        raise ApiError(404, f"no macro {macro_id!r}", field="macro")
    return found


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
    macro_id = _macro_id(request)
    macro: Macro = decode_body(await request.read(), Macro, max_bytes=MAX_MACRO_BYTES)
    if macro.set_skill:
        target_queue(macro.set_skill, 1)
    if not await macros(request).put(macro_id, macro):
        raise ApiError(409, "too many macros: delete some first")
    return web.json_response({"id": macro_id, **to_builtins(macro)})


@requires(Role.ADMIN, policy=ADMIN)
async def delete_macro(request: web.Request) -> web.Response:
    """Delete a macro."""
    if not await macros(request).delete(_macro_id(request)):
        raise ApiError(404, "no such macro")
    return web.json_response({"deleted": request.match_info["macro_id"]})


async def rendered(request: web.Request, ticket: Ticket, macro: Macro) -> str:
    customer = await store(request).customer(ticket.customer_id)
    values = variables(ticket=ticket.id, customer_name=customer.name if customer else "",
                       agent=scope(request).actor, triage=ticket.triage)
    return render(macro.text(ticket.triage.language if ticket.triage else "zh"), values)


@requires(Role.AGENT, Role.MANAGER, policy=TICKET)
async def preview(request: web.Request) -> web.Response:
    """A macro filled in for this ticket (in the customer's language), for the reply box."""
    ticket = target(request, Ticket)
    macro = await macro_of(request, _macro_id(request))
    return web.json_response({"macro": request.match_info["macro_id"],
                              "text": await rendered(request, ticket, macro),
                              **{k: v for k, v in to_builtins(macro).items()
                                 if k in ("set_status", "set_skill", "labels")}})


async def apply_actions(request: web.Request, ticket_id: str, macro: Macro) -> list[str]:
    """After the reply: labels, status, skill — each the ticket's own atomic, audited action.
    Returns what could not be done (the reply is out either way)."""
    who, w, problems = scope(request), work(request), []
    steps: list[tuple[str, str, dict[str, Any] | None]] = []
    if macro.labels:
        steps.append(("labels", json.dumps(list(macro.labels)), None))
    if macro.set_status == "pending":
        # before a transfer, which would take the ticket from its holder (a pending ticket
        # keeps its holder when its skill changes)
        left = await (await sla(request)).remaining(ticket_id, time.time())
        steps.append(("pending", "", left))
    if macro.set_skill:
        steps.append(("transfer_queue", target_queue(macro.set_skill, 1), None))
    for op, arg, extra in steps:
        try:
            checked(await w.act(op, ticket_id, who.actor, privileged=who.privileged, arg=arg,
                                extra=extra))
        except DeskgateError as exc:
            problems.append(f"{op}: {exc}")
    if macro.set_status == "resolved":
        result = await w.resolve(ticket_id, who.actor, privileged=who.privileged)
        if result.outcome != "ok":
            problems.append(f"resolve: {result.outcome} {result.detail}".strip())
    return problems


def setup(app: web.Application) -> None:
    api_route(app, "GET", "/api/v1/macros", list_macros, tag="macros")
    api_route(app, "PUT", "/api/v1/macros/{macro_id}", put_macro, body=Macro, tag="macros")
    api_route(app, "DELETE", "/api/v1/macros/{macro_id}", delete_macro, tag="macros")
    api_route(app, "GET", "/api/v1/tickets/{ticket_id}/macros/{macro_id}", preview,
              tag="macros")


