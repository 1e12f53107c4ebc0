"""Token revocation across gateway processes (two apps on one real Redis, as two `serve`
processes would be): a token one gateway has cached stops working there as soon as another
revokes it, and a gateway that loses its revocation subscription stops trusting its cache."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from deskgate.gateway.app import create_app
from deskgate.gateway.auth import TOKEN_CACHE, TokenCache
from deskgate.gateway.config import Config
from deskgate.models.enums import Role
from deskgate.queue.keys import Keys
from deskgate.queue.tokens import token_hash


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
