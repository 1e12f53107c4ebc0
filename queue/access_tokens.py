"""Provider access tokens (WeChat Official Account, WeCom 微信客服, …) shared by every process
through Redis: the AccessTokens of connectors/send/base.py.

A token is kept in a hash {token, refresh_at} that expires when the provider says it dies.
Past `refresh_at` (a margin before that), ONE process — whoever takes the short lock, the lease
script the IMAP poller uses — fetches a new one while every other process goes on using the
old, still valid, token. With no token at all, the others wait for the lock holder instead of
all asking the provider: WeChat invalidates older tokens on each fetch and counts the calls
against a daily quota (2,000 a day for the Official Account). A lock holder that dies loses the
lock after LOCK_MS and the next caller fetches.

`invalidate` drops the cached token only while it is still the one the provider refused
(errcode 40001/42001 for WeChat, 40014/42001 for WeCom), so it never discards a fresh one
another process just stored.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis

from deskgate.models.errors import Unavailable
from deskgate.queue.keys import Keys
from deskgate.queue.scripts import lua

log = logging.getLogger("deskgate.access_tokens")

LOCK_MS = 10_000           # longer than one token fetch may take (its HTTP timeout)
WAIT_STEP = 0.05           # seconds between looks while another process fetches
REFRESH_MARGIN = 300       # seconds before expiry a token is refreshed (WeChat's tokens: 7,200 s)
MIN_LIFE = 5               # a token the provider says lives less than this is not cached


def refresh_after(lifetime: int) -> int:
    """Seconds after a fetch to refresh: REFRESH_MARGIN early, or at 80% of a short life."""
    return max(lifetime - REFRESH_MARGIN, lifetime * 4 // 5)


class RedisAccessTokens:
    def __init__(self, client: aioredis.Redis, keys: Keys, owner: str = "") -> None:
        self._r = client
        self._keys = keys
        self._owner = owner or f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._lease = client.register_script(lua("mailbox_lease"))
        self._drop = client.register_script(lua("access_token_drop"))

    async def get(self, key: str, fetch: Callable[[], Awaitable[tuple[str, int]]]) -> str:
        """The cached token for `key`, fetched (by this process or the one holding the lock)
        when there is none, refreshed by one process once it is due. `fetch` errors propagate:
        a wrong secret is the provider's answer to show, not something to wait out."""
        deadline = time.monotonic() + 2 * LOCK_MS / 1000
        me = f"{self._owner}:{uuid.uuid4().hex[:8]}"   # one owner per call: coroutines of a
        while True:                                     # process must not share the lock
            token, refresh_at = await self._cached(key)
            if token and time.time() < refresh_at:
                return token
            if await self._lock(key, me):
                try:
                    # someone may have stored a fresh token between our look and the lock
                    fresh, refresh_at = await self._cached(key)
                    if fresh and fresh != token and time.time() < refresh_at:
                        return fresh
                    return await self._fetch(key, fetch)
                finally:
                    await self._unlock(key, me)
            if token:
                return token            # due for refresh, but still valid: another refreshes
            if time.monotonic() > deadline:
                raise Unavailable(f"access token {key} is being fetched by another process "
                                  "that does not finish; retry later", retry_after=1)
            await asyncio.sleep(WAIT_STEP)

    async def invalidate(self, key: str, token: str) -> None:
        if await self._drop(keys=[self._keys.access_token(key)], args=[token]):
            log.info("access token %s dropped: the provider called it expired or invalid", key)

    async def _cached(self, key: str) -> tuple[str, float]:
        raw = await self._r.hmget(self._keys.access_token(key), ["token", "refresh_at"])
        if raw[0] is None or raw[1] is None:
            return "", 0.0
        token = raw[0]
        return token.decode() if isinstance(token, bytes) else token, float(raw[1])

    async def _fetch(self, key: str, fetch: Callable[[], Awaitable[tuple[str, int]]]) -> str:
        token, lifetime = await fetch()
        if lifetime < MIN_LIFE:
            log.warning("access token %s lives only %ss: used once, not cached", key, lifetime)
            return token
        name = self._keys.access_token(key)
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hset(name, mapping={"token": token,
                                     "refresh_at": time.time() + refresh_after(lifetime)})
            pipe.expire(name, lifetime)
            await pipe.execute()
        log.info("access token %s fetched; lives %ss", key, lifetime)
        return token

    async def _lock(self, key: str, owner: str) -> bool:
        return bool(await self._lease(keys=[self._keys.access_token_lock(key)],
                                      args=[owner, LOCK_MS]))

    async def _unlock(self, key: str, owner: str) -> None:
        await self._lease(keys=[self._keys.access_token_lock(key)], args=[owner, 0])
