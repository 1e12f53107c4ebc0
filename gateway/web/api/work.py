"""An agent's work on a ticket over the REST API — renew, release, transfer, notes, first
response, pending, reopen, history — plus "my tickets", agent status, and the queue and agent
status board. Every change is one atomic script that also writes the audit trail."""

from __future__ import annotations

import time

import msgspec
from aiohttp import web

from deskgate.gateway import sla_config
from deskgate.gateway.appkeys import CONFIG, KEYS, REDIS
from deskgate.gateway.web.api.common import checked, store, target_queue, ticket_json, work
from deskgate.gateway.web.auth import requires
from deskgate.gateway.web.body import decode_body
from deskgate.gateway.web.errors import ApiError
from deskgate.gateway.web.scope import AGENT, FILTERED, TICKET, scope, target
from deskgate.models.codec import to_builtins
from deskgate.models.enums import AgentStatus, Role
from deskgate.models.ids import AGENT_ID
from deskgate.models.ticket import Agent, Ticket
from deskgate.queue.audit import AuditLog
from deskgate.queue.routing import RoutingStore
from deskgate.queue.sla import Sla
from deskgate.queue.work import MAX_NOTE_CHARS


class TransferIn(msgspec.Struct, forbid_unknown_fields=True):
    skill: str = ""          # into this skill's queue, unassigned, keeping its place
    level: int = 1           # required level on that skill
    agent: str = ""          # or straight to this agent


class NoteIn(msgspec.Struct, forbid_unknown_fields=True):
    text: str


class ReopenIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: str = ""


class StatusIn(msgspec.Struct, forbid_unknown_fields=True):
    status: AgentStatus


async def sla(request: web.Request) -> Sla:
    return Sla(request.app[REDIS], request.app[KEYS], await sla_config.current(request.app),
               lease_seconds=request.app[CONFIG].workers.lease_seconds)


async def _act(request: web.Request, op: str, *, arg: str = "", extra: dict | None = None,
               now: float | None = None) -> str:
    who = scope(request)
    return checked(await work(request).act(op, target(request, Ticket).id, who.actor,
                                           privileged=who.privileged, arg=arg, extra=extra,
                                           now=now))


async def _ticket_response(request: web.Request, **extra: object) -> web.Response:
    t = await store(request).get(target(request, Ticket).id)
    assert t is not None
    return web.json_response({**ticket_json(t, None), **extra})


@requires(Role.AGENT, Role.MANAGER, policy=TICKET)
async def renew(request: web.Request) -> web.Response:
    """Extend the lease on a ticket you hold (any activity on it does too)."""
    until = await _act(request, "renew")
    return web.json_response({"lease_until": float(until)})


@requires(Role.AGENT, Role.MANAGER, policy=TICKET)
async def release(request: web.Request) -> web.Response:
    """Give a held ticket back: it returns to the front of its queue."""
    await _act(request, "release")
    return await _ticket_response(request)


@requires(Role.AGENT, Role.MANAGER, policy=TICKET)
async def transfer(request: web.Request) -> web.Response:
    """Move a ticket to another skill's queue or straight to another agent; history stays."""
    body: TransferIn = decode_body(await request.read(), TransferIn)
    if bool(body.skill) == bool(body.agent):
        raise ApiError(422, "give either `skill` or `agent`")
    if body.skill:
        await _act(request, "transfer_queue", arg=target_queue(body.skill, body.level))
    else:
        await _act(request, "transfer_agent", arg=AGENT_ID.check(body.agent, "agent"))
    return await _ticket_response(request)


@requires(Role.AGENT, Role.MANAGER, policy=TICKET)
async def add_note(request: web.Request) -> web.Response:
    """Add an internal note (never sent to the customer)."""
    body: NoteIn = decode_body(await request.read(), NoteIn)
    text = body.text.strip()
    if not text or len(text) > MAX_NOTE_CHARS:
        raise ApiError(422, f"a note is 1-{MAX_NOTE_CHARS} characters", field="text")
    count = await _act(request, "note", arg=text)
    return web.json_response({"notes": int(count)}, status=201)


@requires(Role.AGENT, Role.MANAGER, policy=TICKET)
async def list_notes(request: web.Request) -> web.Response:
    """The ticket's internal notes, oldest first."""
    return web.json_response({"notes": await work(request).notes(target(request, Ticket).id)})


@requires(Role.AGENT, Role.MANAGER, policy=TICKET)
async def respond(request: web.Request) -> web.Response:
    """Record that a reply went to the customer: stops the first-response clock."""
    await _act(request, "respond")
    return await _ticket_response(request)


@requires(Role.AGENT, Role.MANAGER, policy=TICKET)
async def pending(request: web.Request) -> web.Response:
    """Wait on the customer: SLA clocks pause; the customer's answer brings it back to you."""
    now = time.time()
    left = await (await sla(request)).remaining(target(request, Ticket).id, now)
    await _act(request, "pending", extra=left, now=now)
    return await _ticket_response(request, sla_remaining_seconds=left)


@requires(Role.AGENT, Role.MANAGER, policy=TICKET)
async def reopen(request: web.Request) -> web.Response:
    """Reopen a resolved ticket: back in its queue with a fresh resolution clock."""
    body: ReopenIn = decode_body(await request.read(), ReopenIn)
    now = time.time()
    timers = await (await sla(request)).reopen_timers(target(request, Ticket).id, now)
    await _act(request, "reopen", arg=body.reason[:500], extra={"timers": timers}, now=now)
    return await _ticket_response(request)


@requires(Role.AGENT, Role.MANAGER, policy=TICKET)
async def history(request: web.Request) -> web.Response:
    """Every state change of the ticket: who, what, when, before and after."""
    t = target(request, Ticket)
    entries = await AuditLog(request.app[REDIS], request.app[KEYS]).history(t.id)
    return web.json_response({"ticket": t.id, "history": [to_builtins(e) for e in entries]})


@requires(Role.AGENT, Role.MANAGER, policy=AGENT)
async def agent_tickets(request: web.Request) -> web.Response:
    """The tickets an agent holds (agents: their own; managers: their teams' agents')."""
    agent_id = target(request, Agent).id
    ids = await work(request).held_by(agent_id)
    tickets = await store(request).get_many(ids)
    return web.json_response({"agent": agent_id,
                              "tickets": [ticket_json(t, None) for t in tickets]})


@requires(Role.AGENT, Role.MANAGER, policy=AGENT)
async def set_status(request: web.Request) -> web.Response:
    """Set an agent online, away (keeps their tickets, takes no new ones) or offline."""
    agent_id = target(request, Agent).id
    body: StatusIn = decode_body(await request.read(), StatusIn)
    before = await work(request).set_status(agent_id, body.status, scope(request).actor)
    if before is None:
        raise ApiError(404, f"no agent {agent_id}")
    return web.json_response({"agent": agent_id, "status": body.status, "before": before})


@requires(Role.MANAGER, policy=FILTERED)
async def status_board(request: web.Request) -> web.Response:
    """Queues (depth, longest wait) and agents (status, load vs capacity), per your teams."""
    sees = scope(request)
    w = work(request)
    queues = await w.queue_status(queues=[q for q in await w.queue_names() if sees.sees_skill(q)])
    loads = [a for a in await w.agent_loads() if sees.sees_agent(a.id, a.team)]
    routing = RoutingStore(request.app[REDIS], request.app[KEYS], request.app[CONFIG].routing)
    overflowing = await routing.overflowing()
    return web.json_response({
        "queues": [to_builtins(q) for q in queues],
        "agents": [{**to_builtins(a), "load": round(a.held / a.capacity, 3) if a.capacity
                    else 0.0} for a in loads],
        "overflowing": {s: since for s, since in overflowing.items() if sees.sees_skill(s)}})
