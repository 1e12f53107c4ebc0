"""Shared fixtures: one private, real redis-server for the whole run (never a Redis we did not
start), and a fresh key prefix per test so tests cannot see each other's keys."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from deskgate.queue.redis_server import REDIS_URL_ENV, EmbeddedRedis

_prefixes = itertools.count(1)


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
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    return d
