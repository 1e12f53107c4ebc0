"""Agents and their work: registration, the atomic claim under a lease, resolve, and the
lease sweeper that returns abandoned tickets to their queues."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

import msgspec
import redis.asyncio as aioredis

from deskgate.models.codec import encode
from deskgate.models.enums import AgentStatus
from deskgate.models.ticket import Agent, Correction
from deskgate.queue.keys import Keys
from deskgate.queue.scripts import lua


class ClaimResult(msgspec.Struct, frozen=True):
    outcome: str          # "ok" | "full" | "empty" | "unknown" | "offline"
    ticket_id: str = ""


class ResolveResult(msgspec.Struct, frozen=True):
    outcome: str          # "ok" | "missing" | "forbidden" | "done"
    detail: str = ""


def _s(v: bytes | str | None) -> str:
    return "" if v is None else v.decode() if isinstance(v, bytes) else v


class Work:
    def __init__(self, client: aioredis.Redis, keys: Keys, *, lease_seconds: int = 600) -> None:
        self._r = client
        self._k = keys
        self.lease_seconds = lease_seconds
        self._claim = client.register_script(lua("claim"))
        self._resolve = client.register_script(lua("resolve"))
        self._expire = client.register_script(lua("expire_leases"))

    async def put_agent(self, agent: Agent) -> None:
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hset(self._k.agent(agent.id), mapping={
                "id": agent.id, "name": agent.name, "skills": json.dumps(agent.skills),
                "languages": ",".join(agent.languages), "capacity": agent.capacity,
                "status": agent.status.value, "team": agent.team})
            pipe.sadd(self._k.agents, agent.id)
            for skill in agent.skills:
                pipe.sadd(self._k.skills, skill)
            await pipe.execute()

    async def get_agent(self, agent_id: str) -> Agent | None:
        f = {k.decode(): v.decode() for k, v in (await self._r.hgetall(self._k.agent(agent_id))).items()}
        if not f:
            return None
        return Agent(id=f["id"], name=f.get("name", ""), skills=json.loads(f["skills"]),
                     languages=tuple(x for x in f.get("languages", "").split(",") if x),
                     capacity=int(f["capacity"]), status=AgentStatus(f["status"]),
                     team=f.get("team", ""))

    async def agent_ids(self) -> list[str]:
        return sorted(_s(x) for x in await self._r.smembers(self._k.agents))

    async def held_by(self, agent_id: str) -> list[str]:
        return sorted(_s(x) for x in await self._r.smembers(self._k.agent_tickets(agent_id)))

    async def claim(self, agent_id: str, now: float | None = None) -> ClaimResult:
        outcome, tid = await self._claim(args=[self._k.p, agent_id, now or time.time(),
                                               self.lease_seconds])
        return ClaimResult(_s(outcome), _s(tid))

    async def resolve(self, ticket_id: str, actor: str, *, privileged: bool,
                      correction: Correction | None = None,
                      now: float | None = None) -> ResolveResult:
        outcome, detail = await self._resolve(args=[
            self._k.p, ticket_id, actor, "1" if privileged else "0", now or time.time(),
            encode(correction) if correction else ""])
        return ResolveResult(_s(outcome), _s(detail))

    async def expire_leases(self, now: float | None = None, batch: int = 500) -> list[str]:
        due = await self._expire(args=[self._k.p, now or time.time(), batch])
        return [_s(x) for x in due]

    async def queue_depths(self, skills: Sequence[str] | None = None) -> dict[str, int]:
        names = sorted(skills or [_s(x) for x in await self._r.smembers(self._k.skills)])
        async with self._r.pipeline(transaction=False) as pipe:
            for s in names:
                pipe.zcard(self._k.queue(s))
            counts = await pipe.execute()
        return dict(zip(names, counts, strict=True))
