"""A per-deployment HMAC secret kept in Redis (survey links, subject tags, file links): made
once by whichever process needs it first (SET NX, so concurrent first uses agree on one), then
read by every process."""

from __future__ import annotations

import secrets

import redis.asyncio as aioredis

from deskgate.queue.replies import as_bytes


async def deployment_secret(client: aioredis.Redis, key: str) -> bytes:
    await client.set(key, secrets.token_hex(32), nx=True)
    return as_bytes(await client.get(key))
