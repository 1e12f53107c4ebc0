"""queue/access_tokens.py against the real redis-server: one fetch for many concurrent callers
(across separate clients, as separate processes would be), refresh by one caller before expiry
while the others keep the valid token, invalidation that spares a fresher token."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from deskgate.queue.access_tokens import RedisAccessTokens, refresh_after
from deskgate.queue.keys import Keys


@pytest.fixture
async def clients(redis_url: str) -> AsyncIterator[list[aioredis.Redis]]:
    made = [aioredis.Redis.from_url(redis_url) for _ in range(4)]
    yield made
    for c in made:
        await c.aclose()


class Provider:
    """Counts fetches; each hands out a new token. `gate` holds a fetch until released."""

    def __init__(self, lifetime: int = 7200) -> None:
        self.calls = 0
        self.lifetime = lifetime
        self.gate = asyncio.Event()
        self.gate.set()

    async def fetch(self) -> tuple[str, int]:
        self.calls += 1
        await self.gate.wait()
        return f"tok-{self.calls}", self.lifetime


async def test_concurrent_callers_share_one_fetch(clients: list[aioredis.Redis],
                                                  keys: Keys) -> None:
    provider = Provider()
    provider.gate.clear()
    stores = [RedisAccessTokens(c, keys) for c in clients]
    calls = [asyncio.create_task(stores[i % 4].get("wechat:app1", provider.fetch))
             for i in range(20)]
    await asyncio.sleep(0)            # let every caller look before the fetch returns
    while provider.calls == 0:
        await asyncio.sleep(0.01)
    provider.gate.set()
    assert set(await asyncio.gather(*calls)) == {"tok-1"}
    assert provider.calls == 1
    ttl = await clients[0].ttl(keys.access_token("wechat:app1"))
    assert 7000 < ttl <= 7200


async def test_due_token_is_refreshed_by_one_caller_while_others_use_it(
        clients: list[aioredis.Redis], keys: Keys) -> None:
    provider = Provider()
    store = RedisAccessTokens(clients[0], keys)
    assert await store.get("wecom:c1", provider.fetch) == "tok-1"
    # the token is due (refresh_at passed) but still valid for its holders
    await clients[0].hset(keys.access_token("wecom:c1"), "refresh_at", 0)
    provider.gate.clear()
    refresher = asyncio.create_task(store.get("wecom:c1", provider.fetch))
    while provider.calls < 2:
        await asyncio.sleep(0.01)
    others = await asyncio.gather(*(RedisAccessTokens(c, keys).get("wecom:c1", provider.fetch)
                                    for c in clients[1:]))
    assert others == ["tok-1"] * 3     # served the old, still valid, token without waiting
    provider.gate.set()
    assert await refresher == "tok-2"
    assert await store.get("wecom:c1", provider.fetch) == "tok-2"
    assert provider.calls == 2


async def test_invalidate_drops_only_the_refused_token(clients: list[aioredis.Redis],
                                                       keys: Keys) -> None:
    provider = Provider()
    store = RedisAccessTokens(clients[0], keys)
    assert await store.get("wechat:a", provider.fetch) == "tok-1"
    await store.invalidate("wechat:a", "tok-0")        # an older token: the cache keeps tok-1
    assert await store.get("wechat:a", provider.fetch) == "tok-1"
    await store.invalidate("wechat:a", "tok-1")
    assert await store.get("wechat:a", provider.fetch) == "tok-2"
    assert provider.calls == 2


async def test_a_failed_fetch_releases_the_lock(clients: list[aioredis.Redis],
                                                keys: Keys) -> None:
    async def broken() -> tuple[str, int]:
        raise RuntimeError("invalid appsecret")

    store = RedisAccessTokens(clients[0], keys)
    with pytest.raises(RuntimeError, match="appsecret"):
        await store.get("wechat:b", broken)
    assert await clients[0].exists(keys.access_token_lock("wechat:b")) == 0
    assert await store.get("wechat:b", Provider().fetch) == "tok-1"


def test_refresh_comes_before_expiry() -> None:
    assert refresh_after(7200) == 6900
    assert 0 < refresh_after(60) < 60
