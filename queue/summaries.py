"""Which daily summaries went out: one hash per team and local day ({p}summary:{team}:{date}),
so that many worker processes send each summary once (lua/summary_claim.lua gives one of them
the turn), a failed delivery is retried with back-off, and a retry skips the targets (webhook,
each email address) that already took it."""

from __future__ import annotations

import redis.asyncio as aioredis

from deskgate.queue.keys import Keys
from deskgate.queue.replies import text as _s
from deskgate.queue.replies import text_hash
from deskgate.queue.scripts import lua

MARK_TTL_SECONDS = 10 * 86400


class SummaryMarks:
    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self._r, self._k = client, keys
        self._claim = client.register_script(lua("summary_claim"))

    async def claim(self, team: str, day: str, owner: str, now: float, turn_seconds: float,
                    max_attempts: int, *, by_hand: bool = False) -> tuple[str, int]:
        """('go', attempt) when this process sends now; else ('sent' | 'failed' | 'wait', n).
        `by_hand`: a person asks, and a given-up summary starts over."""
        outcome, n = await self._claim(keys=[self._k.summary(team, day)],
                                       args=[now, owner, turn_seconds, max_attempts,
                                             MARK_TTL_SECONDS, "1" if by_hand else "0"])
        return _s(outcome), int(n)

    async def delivered(self, team: str, day: str) -> set[str]:
        """The targets that took this summary already."""
        f = text_hash(await self._r.hgetall(self._k.summary(team, day)))
        return {k.removeprefix("done:") for k in f if k.startswith("done:")}

    async def mark_target(self, team: str, day: str, target: str, now: float) -> None:
        await self._r.hset(self._k.summary(team, day), f"done:{target}", now)

    async def finish(self, team: str, day: str, now: float) -> None:
        await self._r.hset(self._k.summary(team, day), mapping={"state": "sent", "sent_at": now})

    async def retry_at(self, team: str, day: str, when: float, reason: str) -> None:
        await self._r.hset(self._k.summary(team, day),
                           mapping={"next_at": when, "last_error": reason[:500]})
