"""What the console's boards read: queue depth and oldest wait per skill, the agents' load
against capacity, the managers' review queue, and ticket volume over time.

Everything here is a bounded read of keys other modules write (no counters of its own), so it
cannot drift from the truth; the bounds (MAX_AGENTS, REVIEW_PAGE, VOLUME_SCAN) keep one call
cheap however large the installation grows."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

import msgspec
import redis.asyncio as aioredis

from deskgate.queue.keys import Keys
from deskgate.queue.scoring import PRIORITY_BOOST_SECONDS, VIP_BOOST_SECONDS

MAX_AGENTS = 2000
REVIEW_PAGE = 100
VOLUME_SCAN = 50_000
# A queue's lowest score belongs to a ticket enqueued at most this long after the oldest one,
# so the oldest ticket is among those scored within this window of the head.
_MAX_BOOST = max(PRIORITY_BOOST_SECONDS.values()) + VIP_BOOST_SECONDS
_OLDEST_CANDIDATES = 200
DIMENSIONS = ("channel", "topic", "sentiment", "priority")


class QueueRow(msgspec.Struct, frozen=True):
    skill: str
    depth: int
    oldest_wait: float          # seconds the longest-waiting open ticket has waited (0 = empty)
    oldest_ticket: str = ""


class AgentRow(msgspec.Struct, frozen=True):
    id: str
    name: str
    status: str
    team: str
    skills: tuple[str, ...]
    capacity: int
    load: int
    holding: tuple[str, ...]


class ReviewRow(msgspec.Struct, frozen=True):
    ticket_id: str
    flagged_at: float
    reasons: str
    subject: str
    priority: str
    status: str
    channel: str
    customer_id: str
    assignee: str


class Board(msgspec.Struct, frozen=True):
    at: float
    queues: tuple[QueueRow, ...]
    agents: tuple[AgentRow, ...]
    review_total: int
    review: tuple[ReviewRow, ...]


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


def _s(v: bytes | str | None) -> str:
    return "" if v is None else v.decode() if isinstance(v, bytes) else v


class Dashboard:
    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self._r = client
        self._k = keys

    async def queues(self, skills: Sequence[str] | None = None,
                     now: float | None = None) -> list[QueueRow]:
        now = now or time.time()
        names = sorted(skills if skills is not None
                       else {_s(x) for x in await self._r.smembers(self._k.skills)})
        async with self._r.pipeline(transaction=False) as pipe:
            for s in names:
                pipe.zcard(self._k.queue(s))
                pipe.zrange(self._k.queue(s), 0, 0, withscores=True)
            heads = await pipe.execute()
        depths = heads[0::2]
        async with self._r.pipeline(transaction=False) as pipe:
            for s, head in zip(names, heads[1::2], strict=True):
                low = head[0][1] if head else 0.0
                pipe.zrangebyscore(self._k.queue(s), low, low + _MAX_BOOST,
                                   start=0, num=_OLDEST_CANDIDATES)
            candidates = [[_s(t) for t in ids] for ids in await pipe.execute()]
        async with self._r.pipeline(transaction=False) as pipe:
            for ids in candidates:
                for tid in ids:
                    pipe.hget(self._k.ticket(tid), "created_at")
            created = iter(await pipe.execute())
        rows = []
        for s, depth, ids in zip(names, depths, candidates, strict=True):
            times = [(float(c), tid) for tid in ids if (c := next(created)) is not None]
            oldest = min(times) if times else (now, "")
            rows.append(QueueRow(skill=s, depth=depth, oldest_wait=max(0.0, now - oldest[0]),
                                 oldest_ticket=oldest[1]))
        return rows

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

    async def review(self, limit: int = REVIEW_PAGE) -> tuple[int, list[ReviewRow]]:
        """How many tickets are flagged for review, and the newest `limit` of them."""
        async with self._r.pipeline(transaction=False) as pipe:
            pipe.zcard(self._k.review)
            pipe.zrevrange(self._k.review, 0, limit - 1, withscores=True)
            total, flagged = await pipe.execute()
        fields = ("review_reasons", "subject", "priority", "status", "channel", "customer_id",
                  "assignee")
        async with self._r.pipeline(transaction=False) as pipe:
            for tid, _ in flagged:
                pipe.hmget(self._k.ticket(_s(tid)), fields)
            rows = await pipe.execute()
        return total, [ReviewRow(_s(tid), score, *(_s(v) for v in row))
                       for (tid, score), row in zip(flagged, rows, strict=True)]

    async def board(self, skills: Sequence[str] | None = None) -> Board:
        now = time.time()
        total, review = await self.review()
        return Board(at=now, queues=tuple(await self.queues(skills, now)),
                     agents=tuple(await self.agents()), review_total=total,
                     review=tuple(review))

    async def volume(self, since: float, bucket_seconds: int,
                     now: float | None = None) -> Volume:
        """Tickets created since `since`, counted per bucket by channel, topic, sentiment and
        priority; an agent's correction counts instead of triage's guess."""
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
                               ("created_at", "channel", "priority", "triage", "correction"))
                rows = await pipe.execute()
            for created, channel, priority, triage, correction in rows:
                if created is None:
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
