"""Shared fixtures: one private, real redis-server for the whole run (never a Redis we did not
start), a fresh key prefix per test so tests cannot see each other's keys, and the app over
real loopback HTTP with or without its triage worker. A folder's conftest may override
`config` for its own tests."""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
from rq import SimpleWorker
from rq.serializers import JSONSerializer
from rq.timeouts import TimerDeathPenalty

from deskgate.gateway.config import Config, WorkerConfig
from deskgate.gateway.retraining.jobs import job_queue
from deskgate.gateway.web.app import create_app
from deskgate.gateway.workers.senders import run_senders
from deskgate.models.enums import Role
from deskgate.queue.keys import Keys
from deskgate.queue.redis_server import REDIS_URL_ENV, EmbeddedRedis
from deskgate.queue.tokens import create_token

_prefixes = itertools.count(1)

# A test's event loop is closed by cancelling every task left and waiting for all of them. A
# task that swallows its cancellation would make that wait endless (and pytest-timeout would
# report only "epoll"): wait a bounded time instead, then fail naming each task and where it
# stands, so the loop that ignores cancellation can be found and fixed.
_LOOP_CLOSE_SECONDS = 30
_cancel_all_tasks = asyncio.runners._cancel_all_tasks  # type: ignore[attr-defined]


def _cancel_all_tasks_or_name_them(loop: asyncio.AbstractEventLoop) -> None:
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in pending:
        task.cancel()

    async def settle() -> set[asyncio.Task[Any]]:
        _, stuck = await asyncio.wait(pending, timeout=_LOOP_CLOSE_SECONDS)
        return stuck

    stuck = loop.run_until_complete(settle()) if pending else set()
    if stuck:
        where = "\n".join(f"{t!r}\n  at {t.get_stack(limit=3)}" for t in stuck)
        raise RuntimeError(f"{len(stuck)} task(s) ignored their cancellation:\n{where}")
    _cancel_all_tasks(loop)


asyncio.runners._cancel_all_tasks = _cancel_all_tasks_or_name_them  # type: ignore[attr-defined]


@pytest.fixture(scope="session", autouse=True)
def _no_foreign_redis() -> Iterator[None]:
    # A developer's shell may point at a shared server; tests must never touch it.
    saved = os.environ.pop(REDIS_URL_ENV, None)
    yield
    if saved is not None:
        os.environ[REDIS_URL_ENV] = saved


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_url(redis_server: EmbeddedRedis) -> str:
    return redis_server.url


@pytest.fixture
def prefix() -> str:
    """A key prefix no other test uses."""
    return f"t{next(_prefixes)}:"


@pytest.fixture
def r(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
async def aclient(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    return d


@pytest.fixture
def keys(prefix: str) -> Keys:
    return Keys(prefix)


@pytest.fixture
def config(prefix: str) -> Config:
    """Fast polling and a short idle time before a dead consumer's entries are taken over."""
    return Config(redis_prefix=prefix,
                  workers=WorkerConfig(block_ms=50, claim_idle_ms=500, lease_seconds=60))


@pytest.fixture
async def senders(redis_url: str, keys: Keys, config: Config,
                  data_dir: Path) -> AsyncIterator[None]:
    """One sender worker in this process, with whatever `config` the test's folder defines (the
    crash cases run it as a real process: tests/processes.py)."""
    client = aioredis.Redis.from_url(redis_url)
    stop = asyncio.Event()
    task = asyncio.create_task(run_senders(client, keys, config, data_dir, "t-sender", stop))
    yield
    stop.set()
    await asyncio.wait_for(task, 10)
    await client.aclose()


@pytest.fixture
def token(r: redis.Redis, keys: Keys) -> Callable[..., str]:
    """A new API token: token(Role.AGENT, "ann")."""
    def make(role: Role, agent_id: str = "", label: str = "") -> str:
        return create_token(r, keys, role, agent_id=agent_id, label=label)[0]
    return make


@pytest.fixture
def auth(token: Callable[..., str]) -> Callable[..., dict[str, str]]:
    """Headers carrying a new token: auth(Role.MANAGER)."""
    def headers(role: Role, agent_id: str = "") -> dict[str, str]:
        return {"Authorization": f"Bearer {token(role, agent_id)}"}
    return headers


@pytest.fixture
async def client(aiohttp_client: Any, config: Config, redis_url: str, data_dir: Path) -> Any:
    """The app without workers: what the gateway alone does."""
    return await aiohttp_client(create_app(config, redis_url, data_dir, run_workers=False))


@pytest.fixture
async def live(aiohttp_client: Any, config: Config, redis_url: str, data_dir: Path) -> Any:
    """The app with its triage worker (and model watcher) running in-process."""
    return await aiohttp_client(create_app(config, redis_url, data_dir, run_workers=True))


async def _eventually(check: Callable[[], Awaitable[Any]], timeout: float = 30.0) -> Any:
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
    """Poll an async check until it returns something truthy (no fixed sleeps)."""
    return _eventually


async def post_message(client: Any, headers: dict[str, str], ext: str, text: str) -> str:
    """POST one API message (the sender derived from `ext`); its id once accepted."""
    resp = await client.post("/api/v1/messages", headers=headers, json={
        "external_id": ext, "sender": {"email": f"{ext}@example.cn"}, "text": text})
    assert resp.status == 202, await resp.text()
    return str((await resp.json())["id"])


async def ticket_of(client: Any, headers: dict[str, str], mid: str, eventually: Any) -> Any:
    """The ticket a message landed on, once the worker has put it there."""
    async def ticket_id() -> str | None:
        body = await (await client.get(f"/api/v1/messages/{mid}", headers=headers)).json()
        return body.get("ticket_id")
    tid = await eventually(ticket_id)
    return await (await client.get(f"/api/v1/tickets/{tid}", headers=headers)).json()


class ThreadWorker(SimpleWorker):
    """rq's SimpleWorker, minus what needs the main thread: signal handlers, SIGALRM timeouts."""

    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self) -> None:
        pass


@pytest.fixture
def run_jobs(r: redis.Redis, keys: Keys) -> Callable[[], Awaitable[None]]:
    """Run every queued job to completion with a real rq worker (in a thread, burst mode)."""
    async def run() -> None:
        worker = ThreadWorker([job_queue(r, keys)], connection=r, serializer=JSONSerializer)
        await asyncio.to_thread(worker.work, burst=True, with_scheduler=False)
    return run


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(name="free_port")
def free_port_fixture() -> Callable[[], int]:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    return _free_port


def _wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(name="wait_for")
def wait_for_fixture() -> Callable[..., Any]:
    """The synchronous `eventually`, for tests that drive other processes."""
    return _wait_for
