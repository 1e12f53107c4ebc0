"""Who sees which tickets: an agent the tickets of their skills and their own; a manager the
tickets of their teams (the skills their teams own, and those held by their teams' agents); an
admin everything. A manager token that names no manager id (`token create --role manager`
without --agent-id) is a site-wide manager; one naming an id listed in no team sees nothing."""

from __future__ import annotations

import msgspec
from aiohttp import web

from deskgate.gateway import work_config
from deskgate.gateway.appkeys import KEYS, REDIS
from deskgate.gateway.auth import principal
from deskgate.gateway.errors import ApiError
from deskgate.models.enums import Role
from deskgate.models.ticket import Ticket
from deskgate.queue.routing import split_queue


class Scope(msgspec.Struct, frozen=True):
    actor: str                          # what the audit trail records
    role: Role
    agent_id: str = ""
    skills: frozenset[str] | None = None  # None = every skill
    teams: frozenset[str] | None = None   # None = every team

    @property
    def everything(self) -> bool:
        return self.skills is None

    @property
    def privileged(self) -> bool:
        return self.role in (Role.MANAGER, Role.ADMIN)


async def scope_of(request: web.Request) -> Scope:
    who = principal(request)
    actor = who.agent_id or f"{who.role.value}:{who.token_id}"
    if who.role is Role.ADMIN or (who.role is Role.MANAGER and not who.agent_id):
        return Scope(actor, who.role, who.agent_id)
    if who.role is Role.MANAGER:
        teams = {n: t for n, t in (await work_config.current(request.app)).teams.items()
                 if who.agent_id in t.managers}
        return Scope(actor, who.role, who.agent_id,
                     frozenset(s for t in teams.values() for s in t.skills), frozenset(teams))
    raw = await request.app[REDIS].hget(request.app[KEYS].agent(who.agent_id), "skills")
    skills = frozenset(msgspec.json.decode(raw)) if raw else frozenset()
    return Scope(actor, who.role, who.agent_id, skills, frozenset())


async def sees(request: web.Request, scope: Scope, ticket: Ticket) -> bool:
    if scope.everything or split_queue(ticket.skill)[0] in (scope.skills or ()):
        return True
    if ticket.assignee and ticket.assignee == scope.agent_id:
        return True
    if scope.teams and ticket.assignee:
        team = await request.app[REDIS].hget(request.app[KEYS].agent(ticket.assignee), "team")
        return team is not None and team.decode() in scope.teams
    return False


async def check_sees(request: web.Request, scope: Scope, ticket: Ticket) -> None:
    if not await sees(request, scope, ticket):
        raise ApiError(403, "agents see the tickets of their skills and their own; managers "
                            "those of their teams")
