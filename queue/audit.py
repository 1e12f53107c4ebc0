"""The audit trail: every ticket state change (who, what, when, before/after) is appended by
the Lua script that makes it — to the {p}audit stream and to the ticket's own history list —
so the record cannot disagree with the state. This module loads those scripts with the shared
Lua library and reads the trail back."""

from __future__ import annotations

import json

import msgspec
import redis.asyncio as aioredis
from redis.commands.core import AsyncScript

from deskgate.queue.keys import Keys
from deskgate.queue.replies import hash_reply
from deskgate.queue.replies import text as _s
from deskgate.queue.scripts import registered

MAX_SCAN = 20_000      # stream entries looked at for one filtered page


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    ts: float
    actor: str
    action: str
    ticket: str = ""
    before: str = ""
    after: str = ""
    detail: str = ""


def work_script(client: aioredis.Redis, name: str) -> AsyncScript:
    """A work script with lua/_lib.lua (audit, assign, escalate, ...) in front of it."""
    return registered(client, name, lib=True)



def _entry(entry_id: bytes | str, f: dict[bytes, bytes]) -> AuditEntry:
    d = {k.decode(): v.decode() for k, v in f.items()}
    return AuditEntry(id=_s(entry_id), ts=float(d.get("ts") or 0), actor=d.get("actor", ""),
                      action=d.get("action", ""), ticket=d.get("ticket", ""),
                      before=d.get("before", ""), after=d.get("after", ""),
                      detail=d.get("detail", ""))


class AuditLog:
    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self._r = client
        self._k = keys

    async def history(self, ticket_id: str, limit: int = 500) -> list[AuditEntry]:
        """One ticket's trail, oldest first (kept with the ticket, never trimmed)."""
        raws = await self._r.lrange(self._k.ticket_history(ticket_id), 0, limit - 1)
        return [msgspec.convert({**json.loads(r), "ticket": ticket_id}, AuditEntry)
                for r in raws]

    async def recent(self, *, before: str = "+", limit: int = 100, actor: str = "",
                     action: str = "", ticket: str = "") -> tuple[list[AuditEntry], str]:
        """Newest first, filtered; returns (page, cursor for the next page or '')."""
        out: list[AuditEntry] = []
        cursor, scanned = before, 0
        while len(out) < limit and scanned < MAX_SCAN:
            chunk = await self._r.xrevrange(self._k.audit, max=cursor, min="-", count=500)
            if cursor != "+" and chunk and _s(chunk[0][0]) == cursor:
                chunk = chunk[1:]  # the cursor entry was on the previous page
            if not chunk:
                return out, ""
            for eid, fields in chunk:
                scanned += 1
                cursor = _s(eid)
                e = _entry(_s(eid), hash_reply(fields))
                if ((actor and e.actor != actor) or (action and e.action != action)
                        or (ticket and e.ticket != ticket)):
                    continue
                out.append(e)
                if len(out) == limit:
                    return out, cursor
        return out, cursor
