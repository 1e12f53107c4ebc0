"""Agents and their work: registration and status, the atomic claim under a lease, push
assignment, every action on a held ticket (renew, release, transfer, notes, pending, reopen,
resolve), the lease sweeper, and queue / agent status for managers.

Each state change is one Lua script that checks, changes and audits in one step."""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Sequence
from typing import Any

import msgspec
import redis.asyncio as aioredis

from deskgate.models.codec import encode
from deskgate.models.enums import AgentStatus
from deskgate.models.routing import split_queue
from deskgate.models.scoring import PRIORITY_BOOST_SECONDS
from deskgate.models.ticket import Agent, Correction
from deskgate.queue.audit import work_script
from deskgate.queue.keys import Keys
from deskgate.queue.replies import text as _s
from deskgate.queue.replies import text_hash

MAX_NOTE_CHARS = 10_000


class ClaimResult(msgspec.Struct, frozen=True):
    outcome: str          # "ok" | "full" | "empty" | "unknown" | "offline" | "away"
    ticket_id: str = ""


class ResolveResult(msgspec.Struct, frozen=True):
    outcome: str          # "ok" | "missing" | "forbidden" | "done"
    detail: str = ""


class ActionResult(msgspec.Struct, frozen=True):
    outcome: str          # "ok" | "missing" | "forbidden" | "conflict" | "unknown_agent" | "full"
    detail: str = ""


class Assignment(msgspec.Struct, frozen=True):
    ticket_id: str
    agent_id: str


class QueueStatus(msgspec.Struct, frozen=True):
    queue: str
    skill: str
    level: int
    depth: int
    oldest_wait_seconds: float


class AgentLoad(msgspec.Struct, frozen=True):
    id: str
    status: AgentStatus
    team: str
    held: int
    capacity: int



BOOSTS_JSON = json.dumps({p.value: s for p, s in PRIORITY_BOOST_SECONDS.items()})


class Work:
    def __init__(self, client: aioredis.Redis, keys: Keys, *, lease_seconds: int = 600) -> None:
        self._r = client
        self._k = keys
        self.lease_seconds = lease_seconds
        self._claim = work_script(client, "claim")
        self._push = work_script(client, "push")
        self._resolve = work_script(client, "resolve")
        self._expire = work_script(client, "expire_leases")
        self._action = work_script(client, "ticket_action")

    # --- agents -------------------------------------------------------------------------

    async def put_agent(self, agent: Agent) -> None:
        old = await self.get_agent(agent.id)
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hset(self._k.agent(agent.id), mapping={
                "id": agent.id, "name": agent.name, "skills": json.dumps(agent.skills),
                "languages": ",".join(agent.languages), "capacity": agent.capacity,
                "status": agent.status.value, "team": agent.team})
            pipe.sadd(self._k.agents, agent.id)
            for skill in set(old.skills if old else ()) - set(agent.skills):
                pipe.srem(self._k.skill_agents(skill), agent.id)
            for skill in agent.skills:
                pipe.sadd(self._k.skills, skill)
                pipe.sadd(self._k.skill_agents(skill), agent.id)
            await pipe.execute()

    async def get_agent(self, agent_id: str) -> Agent | None:
        f = text_hash(await self._r.hgetall(self._k.agent(agent_id)))
        if not f:
            return None
        return Agent(id=f["id"], name=f.get("name", ""), skills=json.loads(f["skills"]),
                     languages=tuple(x for x in f.get("languages", "").split(",") if x),
                     capacity=int(f["capacity"]), status=AgentStatus(f["status"]),
                     team=f.get("team", ""))

    async def set_status(self, agent_id: str, status: AgentStatus, actor: str) -> str | None:
        """Returns the previous status, or None for an unknown agent."""
        key = self._k.agent(agent_id)
        before = await self._r.hget(key, "status")
        if before is None:
            return None
        now = time.time()
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hset(key, "status", status.value)
            pipe.xadd(self._k.audit, {"ts": now, "actor": actor, "action": "agent_status",
                                      "ticket": "", "before": f"{agent_id}:{_s(before)}",
                                      "after": f"{agent_id}:{status.value}", "detail": ""},
                      maxlen=1_000_000, approximate=True)
            await pipe.execute()
        return _s(before)

    async def agent_ids(self) -> list[str]:
        return sorted(_s(x) for x in await self._r.smembers(self._k.agents))

    async def team_members(self, teams: Collection[str]) -> frozenset[str]:
        """The agents whose `team` is one of `teams` (a team manager's agents)."""
        ids = await self.agent_ids()
        async with self._r.pipeline(transaction=False) as pipe:
            for a in ids:
                pipe.hget(self._k.agent(a), "team")
            teams_of = await pipe.execute()
        return frozenset(a for a, t in zip(ids, teams_of, strict=True)
                         if t is not None and _s(t) in teams)

    async def held_by(self, agent_id: str) -> list[str]:
        return sorted(_s(x) for x in await self._r.smembers(self._k.agent_tickets(agent_id)))

    async def agent_loads(self, agent_ids: Sequence[str] | None = None) -> list[AgentLoad]:
        ids = list(agent_ids) if agent_ids is not None else await self.agent_ids()
        async with self._r.pipeline(transaction=False) as pipe:
            for a in ids:
                pipe.hmget(self._k.agent(a), ["status", "team", "capacity"])
                pipe.scard(self._k.agent_tickets(a))
            replies = await pipe.execute()
        out = []
        for a, (fields, held) in zip(ids, zip(replies[::2], replies[1::2], strict=True),
                                     strict=True):
            if fields[0] is not None:
                out.append(AgentLoad(a, AgentStatus(_s(fields[0])), _s(fields[1]), int(held),
                                     int(fields[2] or 0)))
        return out

    # --- claiming -----------------------------------------------------------------------

    async def claim(self, agent_id: str, now: float | None = None) -> ClaimResult:
        outcome, tid = await self._claim(keys=[self._k.agent(agent_id)],
                                          args=[self._k.p, agent_id, now or time.time(),
                                               self.lease_seconds])
        return ClaimResult(_s(outcome), _s(tid))

    async def push(self, queue: str, now: float | None = None,
                   limit: int = 1000) -> list[Assignment]:
        """Assign the queue's tickets, best first, to the least-loaded eligible agents until
        the queue is empty or nobody has room."""
        out: list[Assignment] = []
        for _ in range(limit):
            outcome, tid, agent = await self._push(keys=[self._k.queue(queue)],
                                                 args=[self._k.p, queue, now or time.time(),
                                                          self.lease_seconds])
            if _s(outcome) != "ok":
                break
            out.append(Assignment(_s(tid), _s(agent)))
        return out

    async def push_skills(self, skills: Sequence[str], now: float | None = None) -> list[Assignment]:
        """Push every queue (all levels) of the given skills."""
        queues = [q for q in await self.queue_names() if split_queue(q)[0] in skills]
        out: list[Assignment] = []
        for q in queues:
            out += await self.push(q, now)
        return out

    # --- actions on a ticket ------------------------------------------------------------

    async def resolve(self, ticket_id: str, actor: str, *, privileged: bool,
                      correction: Correction | None = None,
                      now: float | None = None) -> ResolveResult:
        outcome, detail = await self._resolve(keys=[self._k.ticket(ticket_id)], args=[
            self._k.p, ticket_id, actor, "1" if privileged else "0", now or time.time(),
            encode(correction) if correction else ""])
        return ResolveResult(_s(outcome), _s(detail))

    async def act(self, op: str, ticket_id: str, actor: str, *, privileged: bool,
                  arg: str = "", extra: dict[str, object] | None = None,
                  now: float | None = None) -> ActionResult:
        """One of the ops of lua/ticket_action.lua (renew, release, transfer_queue, ...)."""
        outcome, detail = await self._action(keys=[self._k.ticket(ticket_id)], args=[
            self._k.p, op, ticket_id, actor, "1" if privileged else "0", now or time.time(),
            self.lease_seconds, arg, json.dumps(extra or {})])
        return ActionResult(_s(outcome), _s(detail))

    async def escalate(self, ticket_id: str, actor: str, to_queue: str = "",
                       now: float | None = None) -> ActionResult:
        return await self.act("escalate", ticket_id, actor, privileged=True, arg=to_queue,
                              extra={"boosts": json.loads(BOOSTS_JSON)}, now=now)

    async def notes(self, ticket_id: str) -> list[dict[str, Any]]:
        return [json.loads(n) for n in await self._r.lrange(self._k.ticket_notes(ticket_id), 0, -1)]

    async def expire_leases(self, now: float | None = None, batch: int = 500) -> list[str]:
        due = await self._expire(keys=[self._k.leases], args=[self._k.p, now or time.time(), batch])
        return [_s(x) for x in due]

    # --- status -------------------------------------------------------------------------

    async def queue_names(self) -> list[str]:
        return sorted(_s(x) for x in await self._r.smembers(self._k.skills))

    async def queue_depths(self, skills: Sequence[str] | None = None) -> dict[str, int]:
        names = sorted(skills or await self.queue_names())
        async with self._r.pipeline(transaction=False) as pipe:
            for s in names:
                pipe.zcard(self._k.queue(s))
            counts = await pipe.execute()
        return dict(zip(names, counts, strict=True))

    async def queue_status(self, now: float | None = None,
                           queues: Sequence[str] | None = None) -> list[QueueStatus]:
        """Depth and the longest wait (from ticket creation) among each queue's first 50."""
        now = now or time.time()
        names = sorted(queues if queues is not None else await self.queue_names())
        async with self._r.pipeline(transaction=False) as pipe:
            for q in names:
                pipe.zcard(self._k.queue(q))
                pipe.zrange(self._k.queue(q), 0, 49)
            replies = await pipe.execute()
        heads = [[_s(t) for t in ids] for ids in replies[1::2]]
        async with self._r.pipeline(transaction=False) as pipe:
            for ids in heads:
                for tid in ids:
                    pipe.hget(self._k.ticket(tid), "created_at")
            created = iter(await pipe.execute())
        out = []
        for q, depth, ids in zip(names, replies[::2], heads, strict=True):
            waits = [now - float(c) for c in (next(created) for _ in ids) if c]
            skill, level = split_queue(q)
            out.append(QueueStatus(q, skill, level, int(depth), max(waits, default=0.0)))
        return out
