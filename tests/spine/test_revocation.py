"""Token revocation across gateway processes (two apps on one real Redis, as two `serve`
processes would be): a token one gateway has cached stops working there as soon as another
revokes it, and a gateway that loses its revocation subscription stops trusting its cache.
The cache itself is bounded: a token of the wrong shape never reaches it, and unknown tokens
cannot push the known ones out."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from deskgate.gateway.config import Config
from deskgate.gateway.web.app import create_app
from deskgate.gateway.web.auth import TOKEN_CACHE, TOKEN_MISSES_MAX, TokenCache
from deskgate.models.enums import Role
from deskgate.queue.keys import Keys
from deskgate.queue.tokens import TokenInfo, token_hash


async def two_gateways(aiohttp_client: Any, config: Config, redis_url: str,
                       data_dir: Path, eventually: Any) -> tuple[Any, Any, TokenCache]:
    first = create_app(config, redis_url, data_dir, run_workers=False)
    a = await aiohttp_client(first)
    b = await aiohttp_client(create_app(config, redis_url, data_dir, run_workers=False))
    cache = first[TOKEN_CACHE]

    async def listening() -> bool:
        return cache.live
    await eventually(listening)
    return a, b, cache


async def test_a_token_revoked_through_one_gateway_stops_at_once_in_another(
        aiohttp_client: Any, config: Config, redis_url: str, data_dir: Path, eventually: Any,
        token: Callable[..., str], auth: Callable[..., dict[str, str]]) -> None:
    a, b, cache = await two_gateways(aiohttp_client, config, redis_url, data_dir, eventually)
    secret = token(Role.MANAGER)
    bearer = {"Authorization": f"Bearer {secret}"}
    assert (await a.get("/api/v1/queues", headers=bearer)).status == 200   # cached in A
    assert cache.get(token_hash(secret), 0.0)[0]
    heard = cache.generation
    revoked = await b.delete(f"/api/v1/tokens/{token_hash(secret)[:12]}",
                             headers=auth(Role.ADMIN))
    assert revoked.status == 200

    async def revocation_heard() -> bool:
        return cache.generation > heard
    await eventually(revocation_heard)
    refused = await a.get("/api/v1/queues", headers=bearer)
    assert refused.status == 401
    assert (await refused.json())["error"]["message"] == "unknown or revoked token"


async def test_a_gateway_that_stops_hearing_revocations_does_not_trust_its_cache(
        aiohttp_client: Any, config: Config, redis_url: str, data_dir: Path, eventually: Any,
        token: Callable[..., str], r: redis.Redis, keys: Keys) -> None:
    a, _, cache = await two_gateways(aiohttp_client, config, redis_url, data_dir, eventually)
    secret = token(Role.MANAGER)
    bearer = {"Authorization": f"Bearer {secret}"}
    assert (await a.get("/api/v1/queues", headers=bearer)).status == 200   # cached in A
    heard = cache.generation
    # Revoked behind the gateways' backs (no message), and the subscriptions cut.
    r.delete(keys.token(token_hash(secret)))
    r.execute_command("CLIENT", "KILL", "TYPE", "pubsub")

    async def subscription_lost() -> bool:
        return cache.generation > heard
    await eventually(subscription_lost)
    assert (await a.get("/api/v1/queues", headers=bearer)).status == 401


async def test_a_token_of_the_wrong_shape_is_refused_before_lookup_or_cache(
        aiohttp_client: Any, config: Config, redis_url: str, data_dir: Path, eventually: Any,
        token: Callable[..., str]) -> None:
    a, _, cache = await two_gateways(aiohttp_client, config, redis_url, data_dir, eventually)
    good = token(Role.MANAGER)
    for bad in ("dgt_" + "x" * 8000, good + "x", good[:-1], "dgt_" + "!" * 43, "nope"):
        resp = await a.get("/api/v1/queues", headers={"Authorization": f"Bearer {bad}"})
        assert resp.status == 401 and resp.headers["WWW-Authenticate"] == "Bearer"
        assert "malformed token" in (await resp.json())["error"]["message"]
    assert len(cache) == 0
    unknown = "dgt_" + "A" * 43                   # the right shape: looked up, a cached miss
    resp = await a.get("/api/v1/queues", headers={"Authorization": f"Bearer {unknown}"})
    assert resp.status == 401 and len(cache) == 1
    assert (await a.get("/api/v1/queues", headers={"Authorization": f"Bearer {good}"})
            ).status == 200


def test_unknown_tokens_cannot_push_known_ones_out_of_the_cache() -> None:
    cache = TokenCache()
    cache.set_live(True)
    known = TokenInfo(token_id="abcdef012345", role=Role.MANAGER)
    cache.put("known", 0.0, known, cache.generation)
    for i in range(TOKEN_MISSES_MAX * 3):
        cache.put(f"miss{i}", 0.0, None, cache.generation)
    assert cache.get("known", 1.0) == (True, known)
    assert len(cache) <= TOKEN_MISSES_MAX + 1
    assert cache.get(f"miss{TOKEN_MISSES_MAX * 3 - 1}", 1.0) == (True, None)


async def test_requests_missing_one_token_at_once_share_one_lookup() -> None:
    """An entry expiring under load: the requests waiting on that token ask Redis once between
    them (one call each went past the connection pool's size), and all get its answer."""
    cache = TokenCache()
    cache.set_live(True)
    known = TokenInfo(token_id="abcdef012345", role=Role.INTEGRATION)
    calls = 0
    release = asyncio.Event()

    async def fetch() -> TokenInfo:
        nonlocal calls
        calls += 1
        await release.wait()
        return known

    waiting = [asyncio.create_task(cache.load("digest", 0.0, fetch)) for _ in range(200)]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*waiting) == [known] * 200
    assert calls == 1
    assert cache.get("digest", 1.0) == (True, known), "the answer is cached for the next ones"
