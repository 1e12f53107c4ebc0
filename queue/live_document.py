"""A document an admin edits at run time (the routing table, the SLA policies and teams): the
admin's validated copy stored in Redis as JSON with a revision, else the config file's. Every
process re-reads it within REFRESH_SECONDS of a change, without a restart, and every change
and reset is written to the audit stream."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

import msgspec
import redis.asyncio as aioredis

from deskgate.queue.keys import Keys
from deskgate.queue.replies import optional_bytes, text_hash

REFRESH_SECONDS = 1.0
T = TypeVar("T")


class LiveDocument(Generic[T]):
    def __init__(self, client: aioredis.Redis, keys: Keys, *, key: str, type_: type[T],
                 fallback: T, action: str, describe: Callable[[T], str]) -> None:
        self._r = client
        self._k = keys
        self._key = key
        self._type = type_
        self.fallback = fallback
        self._action = action           # audit actions are "<action>_updated" / "_reset"
        self._describe = describe
        self._doc = fallback
        self._rev: bytes | None = None
        self._checked = float("-inf")

    async def current(self, *, fresh: bool = False) -> T:
        now = time.monotonic()
        if not fresh and now - self._checked < REFRESH_SECONDS:
            return self._doc
        self._checked = now
        rev, raw = map(optional_bytes, await self._r.hmget(self._key, ["rev", "json"]))
        if rev != self._rev:
            self._doc = msgspec.json.decode(raw, type=self._type) if raw else self.fallback
            self._rev = rev
        return self._doc

    async def source(self) -> dict[str, str]:
        """Who stored the live document and when, or that the config file applies."""
        f = await self._r.hgetall(self._key)
        d = {k: v for k, v in text_hash(f).items() if k != "json"}
        return d or {"source": "config file"}

    async def put(self, doc: T, actor: str) -> int:
        now = time.time()
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hincrby(self._key, "rev", 1)
            pipe.hset(self._key, mapping={
                "json": msgspec.json.encode(doc), "updated_by": actor, "updated_at": now,
                "source": "admin API"})
            self._audit(pipe, now, actor, "updated", self._describe(doc))
            rev, *_ = await pipe.execute()
        self._checked = float("-inf")
        return int(rev)

    async def reset(self, actor: str) -> None:
        """Drop the stored document: the config file's applies again."""
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.delete(self._key)
            self._audit(pipe, time.time(), actor, "reset", "config file applies")
            await pipe.execute()
        self._checked = float("-inf")

    def _audit(self, pipe: aioredis.client.Pipeline, now: float, actor: str, what: str,
               detail: str) -> None:
        pipe.xadd(self._k.audit, {"ts": now, "actor": actor, "action": f"{self._action}_{what}",
                                  "ticket": "", "before": "", "after": "", "detail": detail},
                  maxlen=1_000_000, approximate=True)
