"""Who sees what: the one visibility rule of Deskgate (docs/authorization.md).

An agent sees the tickets of their skills and the ones they hold, and only their own agent
record; a team manager what maps to their teams (the skills the teams own, the teams' agents
and the tickets those agents hold); admins and site-wide managers everything. The gateway
resolves a caller's Scope (gateway/web/scope.py); every read in queue/ that lists or counts takes
one, so filtering happens while scanning, before paging, limits and totals."""

from __future__ import annotations

import msgspec

from deskgate.models.enums import Role


def base_skill(skill_or_queue: str) -> str:
    """"billing@2" (a queue) and "billing" (a skill) both belong to the skill "billing"."""
    return skill_or_queue.partition("@")[0]


class Scope(msgspec.Struct, frozen=True, kw_only=True):
    actor: str                                   # what the audit trail records
    role: Role
    agent_id: str = ""
    token_id: str = ""
    skills: frozenset[str] | None = None         # None = every skill (and everything else)
    teams: frozenset[str] = frozenset()
    team_agents: frozenset[str] = frozenset()    # the agents of `teams`

    @property
    def everything(self) -> bool:
        return self.skills is None

    @property
    def privileged(self) -> bool:
        return self.role in (Role.MANAGER, Role.ADMIN)

    def sees_skill(self, skill_or_queue: str) -> bool:
        """A queue, an account's default skill, a mailbox's skill: "" maps to no team."""
        return self.skills is None or base_skill(skill_or_queue) in self.skills

    def sees_ticket(self, skill: str, assignee: str) -> bool:
        if self.skills is None or base_skill(skill) in self.skills:
            return True
        return bool(assignee) and (assignee == self.agent_id or assignee in self.team_agents)

    def sees_agent(self, agent_id: str, team: str) -> bool:
        if self.skills is None or agent_id == self.agent_id:
            return True
        return bool(team) and team in self.teams

