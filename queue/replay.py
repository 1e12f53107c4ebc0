"""Nonce seen-sets for webhooks whose signature does not cover the whole request (WeChat plain
mode signs token/timestamp/nonce only).

A nonce is remembered with the digest of the body it first came with, for as long as its
timestamp stays acceptable. The same nonce with the same body is the provider retrying (safe:
ingest is idempotent); with another body it is a captured signature being reused.
"""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from deskgate.queue.ingest import IngestUnavailable
from deskgate.queue.keys import Keys


async def first_use(client: aioredis.Redis, keys: Keys, channel: str, account: str,
                    nonce: str, digest: str, ttl: int) -> bool:
    """True when the nonce is new or was first seen with this same body digest."""
    key = keys.replay(channel, account, nonce)
    try:
        async with client.pipeline(transaction=True) as pipe:
            pipe.set(key, digest, nx=True, ex=max(ttl, 1))
            pipe.get(key)
            _, stored = await pipe.execute()
    except (RedisError, OSError) as exc:
        raise IngestUnavailable(str(exc)) from exc
    return (stored.decode() if isinstance(stored, bytes) else stored) == digest
