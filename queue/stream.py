"""The ingest stream read as a consumer group: batches in, acknowledgements out, and the
pending entries of a crashed consumer taken over with XAUTOCLAIM."""

from __future__ import annotations

import logging

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import ResponseError
from redis.typing import StreamIdT

from deskgate.models.codec import decode
from deskgate.models.message import InboundMessage
from deskgate.queue.keys import Keys
from deskgate.queue.replies import group_entries, stream_entries

log = logging.getLogger("deskgate.stream")
GROUP = "triage"
LAG_SCAN_LIMIT = 10_000


class Entry(msgspec.Struct, frozen=True):
    entry_id: str
    message: InboundMessage | None     # None: undecodable, moved to the dead-letter stream
    raw: bytes = b""


RawEntry = tuple[str, dict[bytes, bytes]]   # (entry id, fields)


class GroupStream:
    """A stream read by a consumer group: new entries, this consumer's own unacknowledged ones
    after a restart, a crashed consumer's taken over with XAUTOCLAIM, acknowledgements."""

    def __init__(self, client: aioredis.Redis, stream: str, group: str, consumer: str) -> None:
        self._r = client
        self.stream = stream
        self.group = group
        self.consumer = consumer
        self._autoclaim_cursor = "0-0"

    async def ensure_group(self) -> None:
        try:
            await self._r.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def read_raw(self, count: int, block_ms: int | None) -> list[RawEntry]:
        """Up to `count` new entries, waiting up to `block_ms` for the first (None: no wait)."""
        return group_entries(await self._r.xreadgroup(
            self.group, self.consumer, {self.stream: ">"}, count=count, block=block_ms))

    async def own_pending_raw(self, count: int) -> list[RawEntry]:
        """Entries delivered to this consumer name but never acknowledged (a restart)."""
        reply = await self._r.xreadgroup(self.group, self.consumer, {self.stream: "0"},
                                         count=count)
        return [(eid, f) for eid, f in group_entries(reply) if f]

    async def claim_stale_raw(self, min_idle_ms: int,
                              count: int) -> list[RawEntry]:
        """Take over entries another consumer read and never acknowledged (it crashed)."""
        cursor, entries, *_ = await self._r.xautoclaim(
            self.stream, self.group, self.consumer, min_idle_ms,
            start_id=self._autoclaim_cursor, count=count)
        self._autoclaim_cursor = cursor.decode() if isinstance(cursor, bytes) else cursor
        return [(eid, f) for eid, f in stream_entries(entries) if f]

    async def touch(self, entry_ids: list[str]) -> None:
        """Reset the idle time of entries this consumer is still working on (XCLAIM JUSTID:
        no delivery counted), so that claim_stale_raw, here or in another consumer, never
        takes over a slow but live one."""
        if entry_ids:
            ids: list[StreamIdT] = list(entry_ids)
            await self._r.xclaim(self.stream, self.group, self.consumer, 0, ids, justid=True)

    async def ack(self, entry_ids: list[str]) -> None:
        if entry_ids:
            await self._r.xack(self.stream, self.group, *entry_ids)

    async def trim_acknowledged(self, keep_ms: int, now_ms: int) -> None:
        """Drop the entries the group has acknowledged that are older than `keep_ms`: once a
        message is on its ticket its entry is a second copy, and an untrimmed stream keeps
        every message ever received in memory (and in the AOF). Nothing pending (a crashed
        worker's batch) and nothing not yet delivered is touched: the group's last delivered
        id is read before the pending summary, so an entry delivered in between is newer than
        that id, and every older one still unacknowledged is in the summary."""
        try:
            groups = await self._r.xinfo_groups(self.stream)
        except ResponseError:
            return
        last = next((_s(g["last-delivered-id"]) for g in groups
                     if g["name"] in (self.group, self.group.encode())), None)
        if last is None:
            return
        pending = await self._r.xpending(self.stream, self.group)
        bounds = [last, f"{max(now_ms - keep_ms, 0)}-0"]
        if pending["pending"]:
            bounds.append(_s(pending["min"]))
        # exact, not "~": a small stream is one macro node, which "~" never removes
        await self._r.xtrim(self.stream, minid=min(bounds, key=_stream_id),
                            approximate=False)

    async def lag(self) -> int:
        """Entries not yet delivered to any consumer plus those delivered and unacknowledged.
        Redis 7 reports the undelivered count itself; on 6.2 (the embedded server) they are
        counted by reading past the group's last delivered id, up to LAG_SCAN_LIMIT."""
        try:
            groups = await self._r.xinfo_groups(self.stream)
        except ResponseError:
            return 0
        for g in groups:
            if g["name"] in (self.group, self.group.encode()):
                pending = int(g.get("pending") or 0)
                if g.get("lag") is not None:
                    return int(g["lag"]) + pending
                last = g["last-delivered-id"]
                last = last.decode() if isinstance(last, bytes) else last
                undelivered = await self._r.xrange(self.stream, min=f"({last}",
                                                   count=LAG_SCAN_LIMIT)
                return len(undelivered or ()) + pending
        return 0



class IngestReader(GroupStream):
    def __init__(self, client: aioredis.Redis, keys: Keys, consumer: str) -> None:
        super().__init__(client, keys.ingest, GROUP, consumer)
        self._keys = keys

    async def read(self, count: int, block_ms: int | None) -> list[Entry]:
        """Up to `count` new entries, waiting up to `block_ms` for the first (None: no wait)."""
        return [self._entry(eid, f) for eid, f in await self.read_raw(count, block_ms)]

    async def own_pending(self, count: int) -> list[Entry]:
        return [self._entry(eid, f) for eid, f in await self.own_pending_raw(count)]

    async def claim_stale(self, min_idle_ms: int, count: int) -> list[Entry]:
        return [self._entry(eid, f) for eid, f in await self.claim_stale_raw(min_idle_ms, count)]

    async def dead_letter(self, entry: Entry, reason: str) -> None:
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.xadd(self._keys.dead_letter, {"entry": entry.entry_id, "reason": reason,
                                               "raw": entry.raw}, maxlen=100_000)
            pipe.xack(self._keys.ingest, GROUP, entry.entry_id)
            await pipe.execute()

    def _entry(self, eid: bytes | str, fields: dict[bytes, bytes]) -> Entry:
        entry_id = eid.decode() if isinstance(eid, bytes) else eid
        raw = fields.get(b"m", b"")
        try:
            return Entry(entry_id, decode(raw, InboundMessage), raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            log.error("ingest entry %s is not a valid message (%s)", entry_id, exc)
            return Entry(entry_id, None, raw)


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _stream_id(value: str) -> tuple[int, int]:
    ms, _, seq = value.partition("-")
    return int(ms), int(seq or 0)
