"""The managers' review queue: high-risk tickets (added by lua/apply_messages.lua) and SLA
breaches (lua/sla_sweep.lua), oldest first, with their reasons; urgent risks (self-harm) before
everything else. Actions on an item (acknowledge, reassign, escalate, false alarm) are ops of
lua/ticket_action.lua; a false alarm and an escalation of a risk become risk labels."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
import redis.asyncio as aioredis

from deskgate.models.scope import Scope
from deskgate.queue.keys import Keys
from deskgate.queue.replies import scored
from deskgate.queue.replies import text as _s

SCAN_LIMIT = 10_000
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



class ReviewQueue:
    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self._r = client
        self._k = keys

    async def items(self, scan_limit: int = SCAN_LIMIT) -> tuple[list[ReviewItem], int]:
        """Every item (the oldest `scan_limit`), oldest first, and how many there are."""
        total = await self._r.zcard(self._k.review)
        entries = scored(await self._r.zrange(self._k.review, 0, scan_limit - 1,
                                              withscores=True))
        fields = ["review_reasons", "status", "skill", "priority", "assignee", "subject"]
        async with self._r.pipeline(transaction=False) as pipe:
            for tid, _ in entries:
                pipe.hmget(self._k.ticket(_s(tid)), fields)
            rows = await pipe.execute()
        out = []
        for (tid, since), row in zip(entries, rows, strict=True):
            f = dict(zip(fields, map(_s, row), strict=True))
            urgent = since < 0
            out.append(ReviewItem(ticket_id=_s(tid), urgent=urgent,
                                  since=since + URGENT_REVIEW_OFFSET if urgent else since,
                                  reasons=f["review_reasons"],
                                  status=f["status"], skill=f["skill"],
                                  priority=f["priority"], assignee=f["assignee"],
                                  subject=f["subject"]))
        return out, total

    async def list(self, *, scope: Scope, offset: int = 0,
                   limit: int = 50) -> tuple[list[ReviewItem], int]:
        """Oldest first, what the scope sees; returns (page, total seen by the scope)."""
        return visible_page(*await self.items(), scope, offset, limit)


def visible_page(items: Sequence[ReviewItem], total: int, scope: Scope, offset: int,
                 limit: int) -> tuple[list[ReviewItem], int]:
    """One page of the items a scope sees, and their number: filtered before paging and
    counting, so neither reveals an item of another team."""
    if scope.everything:
        return list(items[offset:offset + limit]), total
    seen = [i for i in items if scope.sees_ticket(i.skill, i.assignee)]
    return seen[offset:offset + limit], len(seen)
