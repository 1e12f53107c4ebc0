"""Provider stand-ins for the senders: a local aiohttp server per test, over real loopback
HTTP, whose handlers check authentication and the documented request shape (the shapes live
in tests/fixtures/send/<provider>/, each with the documentation page it was taken from) and
then give the next scripted answer: the documented success, a 5xx, a 429 with Retry-After, a
stall past the client's timeout, an expired token, a closed window."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp import web

from deskgate.queue.access_tokens import RedisAccessTokens
from deskgate.queue.keys import Keys

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "send"
CLIENT_TIMEOUT = 1.0        # seconds: the stall answer outlasts it


def doc(provider: str, name: str) -> Any:
    """A documented request/answer fixture (its "source" names the page)."""
    data = json.loads((FIXTURES / provider / name).read_text(encoding="utf-8"))
    assert data.get("source", "").startswith("https://"), "every fixture names its source"
    return data


@dataclass(frozen=True)
class Scripted:
    status: int = 200
    body: Any = None                 # JSON-encoded unless bytes
    headers: dict[str, str] = field(default_factory=dict)
    stall: bool = False              # answer only after the client gave up


STALL = Scripted(stall=True)


class StandIn:
    """Records every request that passed the handler's checks and answers from a script
    (the default answer when the script is empty)."""

    def __init__(self) -> None:
        self.app = web.Application()
        self.requests: list[dict[str, Any]] = []
        self.script: list[Scripted] = []
        self.default = Scripted()
        self.base = ""

    def answer_next(self, *answers: Scripted) -> None:
        self.script.extend(answers)

    async def reply(self, record: dict[str, Any]) -> web.Response:
        self.requests.append(record)
        answer = self.script.pop(0) if self.script else self.default
        if answer.stall:
            await asyncio.sleep(CLIENT_TIMEOUT * 3)
        body = answer.body if isinstance(answer.body, bytes) else \
            json.dumps(answer.body, ensure_ascii=False).encode()
        return web.Response(status=answer.status, body=body, headers=answer.headers,
                            content_type="application/json")


def refuse(status: int, why: str) -> web.Response:
    """A stand-in's refusal of a request that breaks the documented shape (tests fail on it)."""
    return web.json_response({"standin_refused": why}, status=status)


@pytest.fixture
async def standin(aiohttp_server: Any) -> Callable[..., Awaitable[Any]]:
    """start(routes) or start(routes, SomeStandIn): the stand-in, listening on loopback."""
    async def start(routes: Callable[[StandIn], None], kind: type[StandIn] = StandIn) -> Any:
        s = kind()
        routes(s)
        server = await aiohttp_server(s.app)
        s.base = str(server.make_url("")).rstrip("/")
        return s
    return start


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=CLIENT_TIMEOUT)) as session:
        yield session


@pytest.fixture
async def tokens(redis_url: str, keys: Keys) -> AsyncIterator[RedisAccessTokens]:
    client = aioredis.Redis.from_url(redis_url)
    yield RedisAccessTokens(client, keys)
    await client.aclose()


def same_shape(got: Any, documented: Any, optional: tuple[str, ...] = ()) -> str:
    """"" when `got` has the documented example's shape: the same keys (any of `optional` may
    be there or not), the same JSON types, recursively; else what differs."""
    if isinstance(documented, dict):
        if not isinstance(got, dict):
            return f"expected an object, got {got!r}"
        missing = set(documented) - set(got) - set(optional)
        extra = set(got) - set(documented) - set(optional)
        if missing or extra:
            return f"missing {sorted(missing)}, unexpected {sorted(extra)}"
        for k, v in documented.items():
            if k not in got:
                continue
            why = same_shape(got[k], v, optional)
            if why:
                return f"{k}: {why}"
        return ""
    if isinstance(documented, list):
        if not isinstance(got, list) or not got:
            return f"expected a non-empty list, got {got!r}"
        return next((w for w in (same_shape(g, documented[0], optional) for g in got) if w), "")
    if type(got) is not type(documented):
        return f"expected {type(documented).__name__}, got {got!r}"
    return ""
