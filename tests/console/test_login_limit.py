"""The console sign-in limit per client address, over real HTTP with two gateways on one
Redis (as two processes would be): failed sign-ins are counted, past the limit every attempt
(even with a good token) gets 429 with Retry-After, in both gateways; successful sign-ins do
not count, so an office behind one address signs in freely."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from deskgate.gateway.config import Config
from deskgate.gateway.web.app import create_app
from deskgate.models.enums import Role
from deskgate.queue.sessions import LOGIN_FAILURES_MAX


async def test_failed_sign_ins_are_limited_per_address_across_gateways(
        aiohttp_client: Any, config: Config, redis_url: str, data_dir: Path,
        token: Callable[..., str]) -> None:
    a = await aiohttp_client(create_app(config, redis_url, data_dir, run_workers=False))
    b = await aiohttp_client(create_app(config, redis_url, data_dir, run_workers=False))
    good = token(Role.MANAGER)
    for _ in range(LOGIN_FAILURES_MAX + 5):          # successes give their slot back
        assert (await a.post("/console/login", json={"token": good})).status == 200
    for i in range(LOGIN_FAILURES_MAX):
        gw = (a, b)[i % 2]
        assert (await gw.post("/console/login", json={"token": f"dgt_guess{i}"})).status == 401
    for gw in (a, b):
        for attempt in ("dgt_one_more_guess", good):
            resp = await gw.post("/console/login", json={"token": attempt})
            assert resp.status == 429
            assert 1 <= int(resp.headers["Retry-After"]) <= 600
            error = (await resp.json())["error"]
            assert error["status"] == 429 and "too many failed sign-ins" in error["message"]
