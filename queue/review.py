"""The managers' review queue: high-risk tickets (added by lua/apply_messages.lua) and SLA
breaches (lua/sla_sweep.lua), oldest first, with their reasons; urgent risks (self-harm) before
everything else. Actions on an item (acknowledge, reassign, escalate, false alarm) are ops of
lua/ticket_action.lua; a false alarm and an escalation of a risk become risk labels."""

from __future__ import annotations

from collections.abc import Container

import msgspec
import redis.asyncio as aioredis

from deskgate.queue.keys import Keys
from deskgate.queue.routing import split_queue

OUTCOMES = ("acknowledged", "reassigned", "escalated", "false_alarm")
# An urgent item's score is the time it arrived minus this (~317 years): negative, so it sorts
# before every ordinary item and urgent items stay oldest first among themselves.
URGENT_REVIEW_OFFSET = 10_000_000_000


class ReviewItem(msgspec.Struct, frozen=True, kw_only=True):
    ticket_id: str
    since: float             # when it entered the review queue (epoch seconds)
    urgent: bool             # a risk that must reach a manager at once (self-harm)
    reasons: str
    status: str
    skill: str
    priority: str
    assignee: str
    subject: str


def _s(v: bytes | str | None) -> str:
    return "" if v is None else v.decode() if isinstance(v, bytes) else v


class ReviewQueue:
    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self._r = client
        self._k = keys

    async def list(self, *, skills: Container[str] | None = None, offset: int = 0,
                   limit: int = 50, scan_limit: int = 10_000) -> tuple[list[ReviewItem], int]:
        """Oldest first; `skills` limits it to a manager's teams. Returns (page, total)."""
        total = await self._r.zcard(self._k.review)
        entries = await self._r.zrange(self._k.review, 0, scan_limit - 1, withscores=True)
        fields = ["review_reasons", "status", "skill", "priority", "assignee", "subject"]
        async with self._r.pipeline(transaction=False) as pipe:
            for tid, _ in entries:
                pipe.hmget(self._k.ticket(_s(tid)), fields)
            rows = await pipe.execute()
        out: list[ReviewItem] = []
        skipped = 0
        for (tid, since), row in zip(entries, rows, strict=True):
            f = dict(zip(fields, map(_s, row), strict=True))
            if skills is not None and split_queue(f["skill"])[0] not in skills:
                continue
            if skipped < offset:
                skipped += 1
                continue
            urgent = since < 0
            out.append(ReviewItem(ticket_id=_s(tid), urgent=urgent,
                                  since=since + URGENT_REVIEW_OFFSET if urgent else since,
                                  reasons=f["review_reasons"],
                                  status=f["status"], skill=f["skill"],
                                  priority=f["priority"], assignee=f["assignee"],
                                  subject=f["subject"]))
            if len(out) == limit:
                break
        return out, total
