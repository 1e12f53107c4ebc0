"""Managers' review queue and audit trail, and the admin's live routing table."""

from __future__ import annotations

from typing import Literal

import msgspec
from aiohttp import web

from deskgate.gateway.appkeys import CONFIG, KEYS, REDIS
from deskgate.gateway.web.api.common import MAX_PAGE, checked, target_queue, work
from deskgate.gateway.web.auth import requires
from deskgate.gateway.web.body import decode_body, decode_document
from deskgate.gateway.web.errors import ApiError
from deskgate.gateway.web.scope import (
    ADMIN,
    FILTERED,
    SITE_WIDE,
    TICKET,
    scope,
    target,
    visible_ticket,
)
from deskgate.models.codec import to_builtins
from deskgate.models.enums import Role
from deskgate.models.ids import AGENT_ID, CURSOR, TICKET_ID
from deskgate.models.routing import RoutingTable
from deskgate.models.ticket import Ticket
from deskgate.queue.audit import AuditLog
from deskgate.queue.review import ReviewQueue
from deskgate.queue.routing import RoutingStore

MAX_ROUTING_BYTES = 256 * 1024


class ReviewActionIn(msgspec.Struct, forbid_unknown_fields=True):
    action: Literal["acknowledge", "reassign", "escalate", "false_alarm"]
    skill: str = ""          # reassign / escalate: into this skill's queue
    level: int = 1
    agent: str = ""          # reassign: to this agent


def _page(request: web.Request) -> tuple[int, int]:
    try:
        return (max(0, int(request.query.get("offset", "0"))),
                min(MAX_PAGE, max(1, int(request.query.get("limit", "50")))))
    except ValueError as exc:
        raise ApiError(400, "offset and limit must be integers") from exc


@requires(Role.MANAGER, policy=FILTERED)
async def list_review(request: web.Request) -> web.Response:
    """High-risk tickets and SLA breaches awaiting a manager, oldest first, with reasons."""
    offset, limit = _page(request)
    items, total = await ReviewQueue(request.app[REDIS], request.app[KEYS]).list(
        scope=scope(request), offset=offset, limit=limit)
    return web.json_response({"items": [to_builtins(i) for i in items], "total": total,
                              "offset": offset, "limit": limit})


@requires(Role.MANAGER, policy=TICKET)
async def review_action(request: web.Request) -> web.Response:
    """Acknowledge, reassign, escalate, or mark a false alarm (kept as a training label)."""
    body: ReviewActionIn = decode_body(await request.read(), ReviewActionIn)
    t = target(request, Ticket)
    actor = scope(request).actor
    w = work(request)
    into = ""
    if body.skill:
        into = target_queue(body.skill, body.level)
    if body.action == "false_alarm":
        checked(await w.act("false_alarm", t.id, actor, privileged=True))
        return web.json_response({"ticket": t.id, "outcome": "false_alarm"})
    if body.action == "reassign":
        if bool(into) == bool(body.agent):
            raise ApiError(422, "reassign needs either `skill` or `agent`")
        if into:
            checked(await w.act("transfer_queue", t.id, actor, privileged=True, arg=into))
        else:
            checked(await w.act("transfer_agent", t.id, actor, privileged=True,
                                arg=AGENT_ID.check(body.agent, "agent")))
    elif body.action == "escalate":
        checked(await w.escalate(t.id, actor, into))
    outcome = {"acknowledge": "acknowledged", "reassign": "reassigned",
               "escalate": "escalated"}[body.action]
    checked(await w.act("review_close", t.id, actor, privileged=True, arg=outcome))
    return web.json_response({"ticket": t.id, "outcome": outcome})


@requires(Role.MANAGER, policy=FILTERED)
async def audit(request: web.Request) -> web.Response:
    """The audit trail, newest first; filter by actor, action, ticket; page with `before`."""
    q = request.query
    _, limit = _page(request)
    ticket = TICKET_ID.check(q["ticket"], "ticket") if q.get("ticket") else ""
    if not scope(request).everything:
        if not ticket:
            raise ApiError(403, "team managers read the audit trail one ticket at a time "
                                "(?ticket=DG-…); the whole trail is for site managers and admins")
        await visible_ticket(request, ticket)
    page, cursor = await AuditLog(request.app[REDIS], request.app[KEYS]).recent(
        before=CURSOR.check(q.get("before", "+"), "before"), limit=limit,
        actor=q.get("actor", "")[:100], action=q.get("action", "")[:40], ticket=ticket)
    return web.json_response({"entries": [to_builtins(e) for e in page], "next": cursor})


def _routing(request: web.Request) -> RoutingStore:
    return RoutingStore(request.app[REDIS], request.app[KEYS], request.app[CONFIG].routing)


@requires(Role.MANAGER, policy=SITE_WIDE)
async def get_routing(request: web.Request) -> web.Response:
    """The routing table in force, and where it came from (config file or admin API)."""
    store = _routing(request)
    table = await store.current(fresh=True)
    return web.json_response({"table": to_builtins(table), **await store.source()})


@requires(Role.ADMIN, policy=ADMIN)
async def put_routing(request: web.Request) -> web.Response:
    """Replace the routing table (JSON or YAML); validated; live in every worker within 1 s."""
    table = decode_document(await request.read(), RoutingTable, what="a routing table",
                            max_bytes=MAX_ROUTING_BYTES)
    rev = await _routing(request).put(table, scope(request).actor)
    return web.json_response({"table": to_builtins(table), "rev": rev})


@requires(Role.ADMIN, policy=ADMIN)
async def reset_routing(request: web.Request) -> web.Response:
    """Drop the admin's table: the config file's applies again."""
    await _routing(request).reset(scope(request).actor)
    return web.json_response({"table": to_builtins(request.app[CONFIG].routing),
                              "source": "config file"})
