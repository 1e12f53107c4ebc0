"""What the console's boards read: queue depth and oldest wait per queue, the agents' load
against capacity, the managers' review queue, and ticket volume over time.

Everything here is a bounded read of keys other modules write (no counters of its own), so it
cannot drift from the truth: queues and the review queue come from Work.queue_status and
ReviewQueue.items, the same reads as GET /api/v1/status and /api/v1/review; the bounds
(MAX_AGENTS, review.SCAN_LIMIT, VOLUME_SCAN) keep one call cheap however large the
installation. The board is the whole installation's: each viewer gets the part their scope
sees (gateway/web/api/stats.py visible_board); volume is counted for one scope."""

from __future__ import annotations

import json
import time

import msgspec
import redis.asyncio as aioredis

from deskgate.models.scope import Scope
from deskgate.queue.keys import Keys
from deskgate.queue.replies import text as _s
from deskgate.queue.review import ReviewItem, ReviewQueue
from deskgate.queue.work import QueueStatus, Work

MAX_AGENTS = 2000
VOLUME_SCAN = 50_000
DIMENSIONS = ("channel", "topic", "sentiment", "priority")


class AgentRow(msgspec.Struct, frozen=True):
    id: str
    name: str
    status: str
    team: str
    skills: tuple[str, ...]
    capacity: int
    load: int
    holding: tuple[str, ...]


class Board(msgspec.Struct, frozen=True):
    at: float
    queues: tuple[QueueStatus, ...]
    agents: tuple[AgentRow, ...]
    review_total: int
    review: tuple[ReviewItem, ...]     # oldest first (every one scanned: viewers see a page)


class Volume(msgspec.Struct, frozen=True):
    since: float
    bucket_seconds: int
    buckets: tuple[float, ...]                           # start of each bucket (epoch s)
    series: dict[str, dict[str, list[int]]]             # dimension -> value -> count per bucket
    total: int
    truncated: bool                                      # more than VOLUME_SCAN tickets in range


class _Labels(msgspec.Struct):
    topic: str = ""
    sentiment: str = ""
    priority: str | None = None



class Dashboard:
    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self._r = client
        self._k = keys

    async def agents(self) -> list[AgentRow]:
        ids = sorted(_s(x) for x in await self._r.smembers(self._k.agents))[:MAX_AGENTS]
        async with self._r.pipeline(transaction=False) as pipe:
            for a in ids:
                pipe.hgetall(self._k.agent(a))
                pipe.smembers(self._k.agent_tickets(a))
            raw = await pipe.execute()
        rows = []
        for a, fields, held in zip(ids, raw[0::2], raw[1::2], strict=True):
            if not fields:
                continue
            f = {k.decode(): v.decode() for k, v in fields.items()}
            holding = tuple(sorted(_s(t) for t in held))
            rows.append(AgentRow(id=a, name=f.get("name", ""), status=f.get("status", ""),
                                 team=f.get("team", ""),
                                 skills=tuple(sorted(json.loads(f.get("skills", "{}")))),
                                 capacity=int(f.get("capacity", 0)), load=len(holding),
                                 holding=holding))
        return rows

    async def board(self) -> Board:
        now = time.time()
        review, total = await ReviewQueue(self._r, self._k).items()
        queues = await Work(self._r, self._k).queue_status(now)
        return Board(at=now, queues=tuple(queues), agents=tuple(await self.agents()),
                     review_total=total, review=tuple(review))

    async def volume(self, since: float, bucket_seconds: int, *, scope: Scope,
                     now: float | None = None) -> Volume:
        """Tickets the scope sees created since `since`, counted per bucket by channel, topic,
        sentiment and priority; an agent's correction counts instead of triage's guess."""
        now = now or time.time()
        n = max(1, int((now - since) // bucket_seconds) + 1)
        ids = await self._r.zrevrangebyscore(self._k.tickets, "+inf", since, start=0,
                                             num=VOLUME_SCAN + 1)
        truncated = len(ids) > VOLUME_SCAN
        series: dict[str, dict[str, list[int]]] = {d: {} for d in DIMENSIONS}
        total = 0
        for chunk in range(0, min(len(ids), VOLUME_SCAN), 1000):
            async with self._r.pipeline(transaction=False) as pipe:
                for tid in ids[chunk:chunk + 1000]:
                    pipe.hmget(self._k.ticket(_s(tid)),
                               ("created_at", "channel", "priority", "triage", "correction",
                                "skill", "assignee"))
                rows = await pipe.execute()
            for created, channel, priority, triage, correction, skill, assignee in rows:
                if created is None or not scope.sees_ticket(_s(skill), _s(assignee)):
                    continue
                i = int((float(created) - since) // bucket_seconds)
                if not 0 <= i < n:
                    continue
                guess = msgspec.json.decode(triage, type=_Labels) if triage else _Labels()
                fix = msgspec.json.decode(correction, type=_Labels) if correction else _Labels()
                values = {"channel": _s(channel),
                          "topic": fix.topic or guess.topic or "unknown",
                          "sentiment": fix.sentiment or guess.sentiment or "unknown",
                          "priority": fix.priority or _s(priority)}
                for dim, value in values.items():
                    series[dim].setdefault(value, [0] * n)[i] += 1
                total += 1
        return Volume(since=since, bucket_seconds=bucket_seconds,
                      buckets=tuple(since + k * bucket_seconds for k in range(n)),
                      series=series, total=total, truncated=truncated)
