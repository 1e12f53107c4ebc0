"""Tickets, queues and agents over the REST API."""

from __future__ import annotations

import time

import msgspec
from aiohttp import web

from deskgate.gateway.appkeys import CONFIG, KEYS, REDIS
from deskgate.gateway.web.api.common import MAX_PAGE, public_base, store, ticket_json, work
from deskgate.gateway.web.auth import requires
from deskgate.gateway.web.body import decode_body
from deskgate.gateway.web.errors import ApiError
from deskgate.gateway.web.scope import ADMIN, AGENT, FILTERED, TICKET, scope, target
from deskgate.models.codec import to_builtins
from deskgate.models.enums import AgentStatus, Priority, Role, Sentiment, Status
from deskgate.models.ids import AGENT_ID, CUSTOMER_ID
from deskgate.models.routing import MAX_LEVEL, check_skill
from deskgate.models.ticket import Agent, Correction, Ticket
from deskgate.queue.csat import Surveys


class AgentIn(msgspec.Struct, forbid_unknown_fields=True):
    skills: dict[str, int] | list[str]
    capacity: int = 5
    name: str = ""
    languages: tuple[str, ...] = ()
    status: AgentStatus = AgentStatus.ONLINE
    team: str = ""


class ResolveIn(msgspec.Struct, forbid_unknown_fields=True):
    topic: str = ""
    priority: Priority | None = None
    sentiment: Sentiment | None = None


@requires(Role.AGENT, Role.MANAGER, policy=TICKET)
async def get_ticket(request: web.Request) -> web.Response:
    """A ticket with its customer, triage and every message of its thread."""
    t = target(request, Ticket)
    s = store(request)
    return web.json_response(ticket_json(t, await s.customer(t.customer_id), await s.messages(t)))


@requires(Role.AGENT, Role.MANAGER, policy=FILTERED)
async def list_tickets(request: web.Request) -> web.Response:
    """Tickets, newest first: filter by status, channel, skill, customer, q (text); page."""
    q = request.query
    try:
        offset = max(0, int(q.get("offset", "0")))
        limit = min(MAX_PAGE, max(1, int(q.get("limit", "50"))))
    except ValueError as exc:
        raise ApiError(400, "offset and limit must be integers") from exc
    if q.get("status") and q["status"] not in Status.__members__.values():
        raise ApiError(400, f"status must be one of {', '.join(s.value for s in Status)}",
                       field="status")
    skill = q.get("skill", "")
    if skill and not scope(request).sees_skill(skill):
        raise ApiError(403, "you list the tickets of your own skills (managers: your teams')",
                       field="skill")
    page, more = await store(request).list(
        scope=scope(request), status=q.get("status", ""), channel=q.get("channel", ""),
        skill=skill,
        customer_id=CUSTOMER_ID.check(q["customer"], "customer") if q.get("customer") else "",
        text=q.get("q", "")[:200],
        offset=offset, limit=limit)
    return web.json_response({"tickets": [ticket_json(t, None) for t in page],
                              "offset": offset, "limit": limit, "more": more})


@requires(Role.AGENT, policy=AGENT)
async def claim(request: web.Request) -> web.Response:
    """Take the best open ticket across the agent's skills, under a lease."""
    agent_id = target(request, Agent).id
    result = await work(request).claim(agent_id)
    if result.outcome == "unknown":
        raise ApiError(404, f"no agent {agent_id}: register it with `deskgate agent add`")
    if result.outcome in ("offline", "away"):
        raise ApiError(409, f"the agent is {result.outcome}; set status online to claim")
    if result.outcome == "full":
        raise ApiError(409, "the agent is at capacity; resolve or release a ticket first")
    if result.outcome == "empty":
        return web.json_response({"ticket": None}, status=200)
    s = store(request)
    t = await s.get(result.ticket_id)
    assert t is not None
    body = ticket_json(t, await s.customer(t.customer_id), await s.messages(t))
    body["lease_seconds"] = request.app[CONFIG].workers.lease_seconds
    return web.json_response({"ticket": body})


@requires(Role.AGENT, Role.MANAGER, policy=TICKET)
async def resolve(request: web.Request) -> web.Response:
    """Resolve a ticket, optionally correcting triage's topic, priority and sentiment."""
    body: ResolveIn = decode_body(await request.read(), ResolveIn)
    correction = (Correction(topic=body.topic, priority=body.priority, sentiment=body.sentiment)
                  if (body.topic or body.priority or body.sentiment) else None)
    who = scope(request)
    result = await work(request).resolve(target(request, Ticket).id, who.actor,
                                         privileged=who.privileged, correction=correction)
    if result.outcome == "missing":
        raise ApiError(404, "no such ticket")
    if result.outcome == "forbidden":
        raise ApiError(403, "only the assigned agent (or a manager) may resolve this ticket")
    if result.outcome == "done":
        raise ApiError(409, f"the ticket is already {result.detail}")
    t = await store(request).get(target(request, Ticket).id)
    assert t is not None
    # a person resolved it (auto-answers never come through here): its one survey
    survey = await Surveys(request.app[REDIS], request.app[KEYS]).offer(t.id, who.actor,
                                                                        time.time())
    answer = ticket_json(t, None)
    if survey:
        answer["survey_url"] = f"{public_base(request)}/csat/{survey}"
    return web.json_response(answer)


@requires(Role.AGENT, Role.MANAGER, policy=FILTERED)
async def queues(request: web.Request) -> web.Response:
    """Open tickets waiting per queue (of your skills or teams), longest wait at its head."""
    w = work(request)
    status = await w.queue_status(queues=[q for q in await w.queue_names()
                                          if scope(request).sees_skill(q)])
    return web.json_response({"queues": [to_builtins(q) for q in status]})


@requires(Role.ADMIN, policy=ADMIN)
async def put_agent(request: web.Request) -> web.Response:
    """Register or update an agent: skills (list, or skill -> level), capacity, status."""
    body: AgentIn = decode_body(await request.read(), AgentIn)
    agent = agent_from_input(request.match_info["agent_id"], body)
    await work(request).put_agent(agent)
    return web.json_response(to_builtins(agent))


@requires(Role.AGENT, Role.MANAGER, policy=AGENT)
async def get_agent(request: web.Request) -> web.Response:
    """An agent's settings and the tickets they hold (agents: their own; managers: their
    teams')."""
    agent = target(request, Agent)
    holding = await work(request).held_by(agent.id)
    return web.json_response({**to_builtins(agent), "holding": holding})


def agent_from_input(agent_id: str, body: AgentIn) -> Agent:
    AGENT_ID.check(agent_id, "agent_id")
    skills = body.skills if isinstance(body.skills, dict) else dict.fromkeys(body.skills, 1)
    if not skills:
        raise ApiError(422, "an agent needs at least one skill", field="skills")
    for name, level in skills.items():
        try:
            check_skill(name)
        except ValueError as exc:
            raise ApiError(422, str(exc), field="skills") from exc
        if not 1 <= level <= MAX_LEVEL:
            raise ApiError(422, f"skill levels are 1-{MAX_LEVEL}", field="skills")
    if not 1 <= body.capacity <= 100:
        raise ApiError(422, "capacity must be 1-100", field="capacity")
    return Agent(id=agent_id, name=body.name, skills=skills, languages=body.languages,
                 capacity=body.capacity, status=body.status, team=body.team)
