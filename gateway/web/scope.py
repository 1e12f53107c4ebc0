"""The object-level authorization layer every /api/v1 route goes through (docs/authorization.md).

A route names its policy next to its roles: `@requires(Role.AGENT, Role.MANAGER, policy=TICKET)`.
After the role check, auth.requires runs the policy, before the handler:

- TICKET, AGENT, MESSAGE: the route acts on the object its path names. The layer loads it
  (404 when there is none), checks the caller's scope (403) and hands it to the handler
  (`target(request, Ticket)`), so a handler never reads an object nobody checked.
- FILTERED: a list, count or board. The handler reads `scope(request)` and passes it to the
  read in queue/, which takes it as a required argument and filters while scanning, before
  limits, offsets and totals.
- SITE_WIDE: a read of the whole installation: admins and site-wide managers only.
- ADMIN: admin-only routes (refused at declaration when opened to another role).
- INTAKE: creates a message and reads nothing back.

Scopes: an agent sees the tickets of their skills and their own, and their own agent record; a
manager the skills their teams own, their teams' agents and the tickets those agents hold; an
admin everything. A manager token that names no manager id (`token create --role manager`
without --agent-id) is a site-wide manager; one naming an id listed in no team sees nothing.
An integration sees the messages it posted."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
from aiohttp import web

from deskgate.gateway import sla_config
from deskgate.gateway.appkeys import KEYS, REDIS
from deskgate.gateway.web.auth import principal
from deskgate.gateway.web.errors import ApiError
from deskgate.models.enums import Role
from deskgate.models.scope import Scope
from deskgate.models.ticket import Agent, Ticket
from deskgate.queue.tickets import MessagePlace, TicketStore
from deskgate.queue.work import Work

SCOPE = web.RequestKey("scope", Scope)
TARGET = web.RequestKey("target", object)
T = TypeVar("T")


async def scope_of(request: web.Request) -> Scope:
    """The caller's scope (the principal must be authenticated), computed once per request."""
    if SCOPE in request:
        return request[SCOPE]
    who = principal(request)
    actor = who.agent_id or f"{who.role.value}:{who.token_id}"
    base = {"actor": actor, "role": who.role, "agent_id": who.agent_id,
            "token_id": who.token_id}
    if who.role is Role.ADMIN or (who.role is Role.MANAGER and not who.agent_id):
        found = Scope(**base)
    elif who.role is Role.MANAGER:
        teams = {n: t for n, t in (await sla_config.current(request.app)).teams.items()
                 if who.agent_id in t.managers}
        members = await _work(request).team_members(teams) if teams else frozenset()
        found = Scope(**base, skills=frozenset(s for t in teams.values() for s in t.skills),
                      teams=frozenset(teams), team_agents=members)
    elif who.role is Role.AGENT:
        raw = await request.app[REDIS].hget(request.app[KEYS].agent(who.agent_id), "skills")
        found = Scope(**base, skills=frozenset(msgspec.json.decode(raw)) if raw else frozenset())
    else:
        found = Scope(**base, skills=frozenset())
    request[SCOPE] = found
    return found


def scope(request: web.Request) -> Scope:
    """The scope the route's policy resolved (every policy resolves one)."""
    return request[SCOPE]


def target(request: web.Request, kind: type[T]) -> T:
    """The object the route's policy loaded and checked."""
    obj = request[TARGET]
    if not isinstance(obj, kind):
        raise TypeError(f"this route's policy checked a {type(obj).__name__}, not a {kind}")
    return obj


def _work(request: web.Request) -> Work:
    return Work(request.app[REDIS], request.app[KEYS])   # reads only: no lease involved


def _tickets(request: web.Request) -> TicketStore:
    return TicketStore(request.app[REDIS], request.app[KEYS])


class Policy:
    """Any route: resolve the scope. Subclasses add what the route may reach."""

    def __init__(self, name: str, rule: str) -> None:
        self.name, self.rule = name, rule

    def check_roles(self, roles: frozenset[Role]) -> None:
        pass

    async def admit(self, request: web.Request) -> None:
        await scope_of(request)


class SiteWide(Policy):
    async def admit(self, request: web.Request) -> None:
        if not (await scope_of(request)).everything:
            raise ApiError(403, "this is a read of the whole installation: for admins and "
                                "site-wide managers (a manager token without --agent-id)")


class AdminOnly(Policy):
    def check_roles(self, roles: frozenset[Role]) -> None:
        if roles != {Role.ADMIN}:
            raise ValueError(f"policy {self.name!r} is for admin-only routes; give roles "
                             f"{sorted(roles)} a scoped policy")


class Owned(Policy):
    """The route acts on the object named by the path parameter `param`."""

    def __init__(self, name: str, rule: str, *, param: str,
                 load: Callable[[web.Request, str], Awaitable[Any]],
                 allows: Callable[[web.Request, Scope, Any], Awaitable[bool]],
                 denied: str) -> None:
        super().__init__(name, rule)
        self.param, self._load, self._allows, self._denied = param, load, allows, denied

    async def admit(self, request: web.Request) -> None:
        s = await scope_of(request)
        obj = await self._load(request, request.match_info[self.param])
        if obj is None:
            raise ApiError(404, f"no such {self.name}")
        if not await self._allows(request, s, obj):
            raise ApiError(403, self._denied)
        request[TARGET] = obj


async def _load_ticket(request: web.Request, ticket_id: str) -> Ticket | None:
    return await _tickets(request).get(ticket_id)


async def _sees_ticket(request: web.Request, s: Scope, t: Ticket) -> bool:
    return s.sees_ticket(t.skill, t.assignee)


async def _load_agent(request: web.Request, agent_id: str) -> Agent | None:
    return await _work(request).get_agent(agent_id)


async def _sees_agent(request: web.Request, s: Scope, a: Agent) -> bool:
    return s.sees_agent(a.id, a.team)


async def _sees_message(request: web.Request, s: Scope, m: MessagePlace) -> bool:
    if s.role is Role.INTEGRATION:
        return bool(m.posted_by) and m.posted_by == s.token_id
    if not m.ticket_id:
        return s.everything             # waiting for triage: it belongs to no team yet
    fields = await request.app[REDIS].hmget(request.app[KEYS].ticket(m.ticket_id),
                                            ["skill", "assignee"])
    skill, assignee = ((v or b"").decode() for v in fields)
    return s.sees_ticket(skill, assignee)


async def _load_message(request: web.Request, message_id: str) -> MessagePlace | None:
    return await _tickets(request).message_place(message_id)


TICKET_DENIED = ("agents see the tickets of their skills and their own; managers those of "
                 "their teams")

TICKET = Owned("ticket", "the ticket in {ticket_id} must be in the caller's scope",
               param="ticket_id", load=_load_ticket, allows=_sees_ticket, denied=TICKET_DENIED)
AGENT = Owned("agent", "agents reach their own record; managers their teams' agents",
              param="agent_id", load=_load_agent, allows=_sees_agent,
              denied="agents see and change only their own record; managers their teams' agents")
MESSAGE = Owned("message", "integrations see what they posted; others the messages of the "
                "tickets they see", param="message_id", load=_load_message,
                allows=_sees_message, denied="you see the messages you posted (integrations) or "
                                             "those of tickets you see")
FILTERED = Policy("filtered", "lists, counts and totals include only what the caller's scope "
                              "sees, filtered before paging")
SITE_WIDE = SiteWide("site-wide", "the whole installation: admins and site-wide managers")
ADMIN = AdminOnly("admin", "admins only")
INTAKE = Policy("intake", "creates a message; reads nothing back")


async def visible_ticket(request: web.Request, ticket_id: str) -> Ticket:
    """A ticket named outside the path (a query parameter), checked like TICKET does."""
    t = await _load_ticket(request, ticket_id)
    if t is None:
        raise ApiError(404, "no such ticket")
    if not await _sees_ticket(request, await scope_of(request), t):
        raise ApiError(403, TICKET_DENIED)
    return t
