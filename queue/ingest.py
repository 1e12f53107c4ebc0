"""The durable accept: a message is acknowledged to its sender only after this returns.

Retries of the same delivery map to the same message id (models.message.message_id) and the
Lua script checks-and-adds atomically, so concurrent retries can never both be ingested.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from deskgate.models.codec import encode
from deskgate.models.message import InboundMessage
from deskgate.queue.keys import Keys
from deskgate.queue.scripts import lua

DEDUPE_TTL_SECONDS = 30 * 24 * 3600  # longer than any provider keeps retrying


class IngestUnavailable(RuntimeError):
    """Redis could not take the message: tell the sender to retry (HTTP 503 / SMTP 451)."""


class Accepted(msgspec.Struct, frozen=True):
    message_id: str
    entry_id: str
    duplicate: bool


class Ingest:
    def __init__(self, client: aioredis.Redis, keys: Keys, *,
                 dedupe_ttl: int = DEDUPE_TTL_SECONDS, maxlen: int = 0) -> None:
        self._r = client
        self._keys = keys
        self._ttl = dedupe_ttl
        self._maxlen = maxlen
        self._script = client.register_script(lua("ingest"))

    async def accept(self, message: InboundMessage) -> Accepted:
        mid = message.id
        try:
            added, entry = await self._script(keys=[self._keys.seen(mid), self._keys.ingest],
                                              args=[mid, encode(message), self._ttl,
                                                    self._maxlen])
        except (RedisError, OSError) as exc:
            raise IngestUnavailable(str(exc)) from exc
        return Accepted(message_id=mid, entry_id=_s(entry), duplicate=not added)

    async def accept_many(self, messages: Sequence[InboundMessage]) -> list[Accepted]:
        """One round trip for a whole delivery (a webhook carrying several messages).
        All-or-error: on a Redis failure nothing is acknowledged, and a retry is safe
        because whatever did get in is recognised as a duplicate."""
        try:
            async with self._r.pipeline(transaction=False) as pipe:
                for m in messages:
                    mid = m.id
                    await self._script(keys=[self._keys.seen(mid), self._keys.ingest],
                                       args=[mid, encode(m), self._ttl, self._maxlen], client=pipe)
                replies = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise IngestUnavailable(str(exc)) from exc
        return [Accepted(message_id=m.id, entry_id=_s(entry), duplicate=not added)
                for m, (added, entry) in zip(messages, replies, strict=True)]


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
