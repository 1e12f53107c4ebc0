from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import redis

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
    def make(role: Role, agent_id: str = "") -> str:
        return create_token(r, Keys(prefix), role, agent_id=agent_id)[0]
    return make


@pytest.fixture
def auth(token: Callable[..., str]) -> Callable[..., dict[str, str]]:
    def headers(role: Role, agent_id: str = "") -> dict[str, str]:
        return {"Authorization": f"Bearer {token(role, agent_id)}"}
    return headers


@pytest.fixture
async def client(aiohttp_client: Any, config: Config, redis_url: str, data_dir: Path) -> Any:
    return await aiohttp_client(create_app(config, redis_url, data_dir, run_workers=False))


@pytest.fixture
async def live(aiohttp_client: Any, config: Config, redis_url: str, data_dir: Path) -> Any:
    """The app with its triage worker running in-process."""
    return await aiohttp_client(create_app(config, redis_url, data_dir, run_workers=True))


async def _eventually(check: Callable[[], Awaitable[Any]], timeout: float = 20.0) -> Any:
    """Poll until `check` returns something truthy; fail with the last value otherwise."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    value = None
    while loop.time() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout}s (last value: {value!r})")


def _message(external_id: str, text: str = "我的订单 DD123456789 还没发货", **extra: Any) -> dict:
    return {"external_id": external_id, "sender": {"email": "li@example.cn", "name": "李"},
            "text": text, **extra}


@pytest.fixture(name="eventually")
def eventually_fixture() -> Callable[..., Awaitable[Any]]:
    return _eventually


@pytest.fixture(name="message")
def message_fixture() -> Callable[..., dict]:
    return _message
