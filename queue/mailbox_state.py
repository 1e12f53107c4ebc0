"""What an IMAP poller must remember across restarts (UIDVALIDITY and the last ingested UID),
who polls a mailbox, and the quarantine of mail that could not be ingested."""

from __future__ import annotations

import time
from collections.abc import Collection

import redis.asyncio as aioredis
from msgspec import Struct

from deskgate.queue.keys import Keys
from deskgate.queue.replies import stream_entries
from deskgate.queue.replies import text as _s
from deskgate.queue.scripts import lua

QUARANTINE_MAXLEN = 100_000
QUARANTINE_SCAN = 10_000


class MailboxPosition(Struct, frozen=True):
    uidvalidity: int
    last_uid: int


class Quarantined(Struct, frozen=True):
    entry_id: str
    mailbox: str
    uid: int
    reason: str
    raw: str          # blob reference of the raw message, "" when it was not fetched
    at: float


class MailboxState:
    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self._r = client
        self._keys = keys
        self._lease = client.register_script(lua("mailbox_lease"))

    async def position(self, mailbox: str) -> MailboxPosition | None:
        raw = await self._r.hmget(self._keys.imap_state(mailbox), ["uidvalidity", "last_uid"])
        if raw[0] is None:
            return None
        return MailboxPosition(int(raw[0]), int(raw[1] or 0))

    async def save(self, mailbox: str, position: MailboxPosition) -> None:
        await self._r.hset(self._keys.imap_state(mailbox),
                           mapping={"uidvalidity": position.uidvalidity,
                                    "last_uid": position.last_uid})

    async def lease(self, mailbox: str, owner: str, ttl_ms: int) -> bool:
        return bool(await self._lease(keys=[self._keys.imap_lease(mailbox)],
                                      args=[owner, ttl_ms]))

    async def quarantine(self, mailbox: str, uid: int, reason: str, raw: str = "") -> str:
        entry = await self._r.xadd(self._keys.mail_quarantine,
                                   {"mailbox": mailbox, "uid": uid, "reason": reason[:1000],
                                    "raw": raw, "at": f"{time.time():.3f}"},
                                   maxlen=QUARANTINE_MAXLEN, approximate=True)
        return entry.decode() if isinstance(entry, bytes) else entry

    async def quarantined(self, count: int, *, mailboxes: Collection[str] | None,
                          scan_limit: int = QUARANTINE_SCAN) -> list[Quarantined]:
        """The newest entries of the given mailboxes (None: of every mailbox), filtered while
        reading at most `scan_limit` entries, so a limit never counts another team's."""
        out: list[Quarantined] = []
        end, scanned = "+", 0
        while scanned < scan_limit and len(out) < count:
            rows = stream_entries(await self._r.xrevrange(
                self._keys.mail_quarantine, max=end, count=min(500, scan_limit - scanned)))
            if not rows:
                break
            scanned += len(rows)
            end = "(" + _s(rows[-1][0])
            out += [Quarantined(entry_id=_s(eid), mailbox=_s(f[b"mailbox"]), uid=int(f[b"uid"]),
                                reason=_s(f[b"reason"]), raw=_s(f[b"raw"]), at=float(f[b"at"]))
                    for eid, f in rows if mailboxes is None or _s(f[b"mailbox"]) in mailboxes]
        return out[:count]
