"""A multi-part reply's progress in Redis, so that a retried send skips what went: which parts
the provider accepted ("text", "file:<i>" → its message id) and which files it already holds
("media:<i>" → the media id an upload returned). And the deployment's secret for the public
links providers fetch reply files from (models/file_links.py)."""

from __future__ import annotations

import redis.asyncio as aioredis

from deskgate.queue.deployment_secret import deployment_secret
from deskgate.queue.keys import Keys
from deskgate.queue.replies import text_hash

# longer than every retry of a reply (max_attempts of back-off up to 15 min) and shorter than
# the 3 days a Tencent media id lives, so a recorded media id is never stale when read
PARTS_TTL_SECONDS = 2 * 24 * 3600


class ReplyParts:
    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self._r, self._k = client, keys

    async def progress(self, reply_id: str) -> dict[str, str]:
        return text_hash(await self._r.hgetall(self._k.reply_parts(reply_id)))

    async def record(self, reply_id: str, part: str, value: str) -> None:
        key = self._k.reply_parts(reply_id)
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hset(key, part, value)
            pipe.expire(key, PARTS_TTL_SECONDS)
            await pipe.execute()

    async def link_secret(self) -> bytes:
        return await deployment_secret(self._r, self._k.file_link_secret)
