from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from aiohttp import web

from deskgate.gateway.app import create_app
from deskgate.gateway.config import Config, WorkerConfig
from deskgate.models.enums import Role
from deskgate.queue.keys import Keys
from deskgate.queue.tokens import create_token


@pytest.fixture
def config(prefix: str) -> Config:
    return Config(redis_prefix=prefix,
                  workers=WorkerConfig(block_ms=50, claim_idle_ms=500, lease_seconds=60))


@pytest.fixture
def token(r: redis.Redis, prefix: str) -> Callable[..., str]:
    def make(role: Role, agent_id: str = "", label: str = "") -> str:
        return create_token(r, Keys(prefix), role, agent_id=agent_id, label=label)[0]
    return make


@pytest.fixture
async def client(aiohttp_client: Any, config: Config, redis_url: str, data_dir: Path) -> Any:
    return await aiohttp_client(create_app(config, redis_url, data_dir, run_workers=False))


@pytest.fixture
async def live(aiohttp_client: Any, config: Config, redis_url: str, data_dir: Path) -> Any:
    """The app with its triage worker running in-process."""
    return await aiohttp_client(create_app(config, redis_url, data_dir, run_workers=True))


async def _eventually(check: Callable[[], Awaitable[Any]], timeout: float = 20.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    value = None
    while loop.time() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout}s (last value: {value!r})")


@pytest.fixture(name="eventually")
def eventually_fixture() -> Callable[..., Awaitable[Any]]:
    return _eventually


@pytest.fixture
def sign_in() -> Callable[[Any, str], Awaitable[str]]:
    """Log a test client in like the page does; returns the session's CSRF token."""
    async def login(client: Any, token: str) -> str:
        resp = await client.post("/console/login", json={"token": token})
        assert resp.status == 200, await resp.text()
        return (await resp.json())["csrf"]
    return login


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
async def server(config: Config, redis_url: str, data_dir: Path) -> AsyncIterator[str]:
    """The whole app, triage worker included, on a real loopback port for the browser."""
    app = create_app(config, redis_url, data_dir, run_workers=True)
    runner = web.AppRunner(app, shutdown_timeout=2)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()
