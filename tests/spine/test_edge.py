"""The HTTP listener against slow and broken clients, with raw sockets over loopback: a client
that never finishes its request head or its body is closed while normal requests are served,
past the connection cap a new connection gets 503 at once, and malformed requests cost a few
WARNING lines, never a traceback. Timeouts are configured short; nothing measures time."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from deskgate.gateway.app import create_app
from deskgate.gateway.config import Config, HttpConfig
from deskgate.gateway.edge import LOG_LINES_PER_MINUTE, GuardedSite


@pytest.fixture
async def site(prefix: str, redis_url: str, data_dir: Path) -> AsyncIterator[GuardedSite]:
    config = Config(redis_prefix=prefix, http=HttpConfig(
        header_timeout_seconds=0.5, body_timeout_seconds=0.5, max_connections=3))
    runner = web.AppRunner(create_app(config, redis_url, data_dir, run_workers=False))
    await runner.setup()
    guarded = GuardedSite(runner, "127.0.0.1", 0, max_connections=3)
    await guarded.start()
    yield guarded
    await runner.cleanup()


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=60)


def read_until_closed(sock: socket.socket) -> bytes:
    """All the server sends until it closes (the 60 s socket timeout only turns a server that
    never closes into a failure instead of a hang)."""
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data


async def healthz(port: int) -> int:
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/healthz") as r:
        return r.status


async def test_a_half_sent_request_head_is_closed_while_others_are_served(site) -> None:
    port = site.port()
    with connect(port) as slow:
        slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1")   # never finished
        assert await healthz(port) == 200
        assert await asyncio.to_thread(read_until_closed, slow) == b""


async def test_a_body_that_does_not_arrive_gets_408_and_the_connection_closes(site) -> None:
    port = site.port()
    with connect(port) as slow:
        slow.sendall(b"POST /api/v1/messages HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"te")
        assert await healthz(port) == 200
        answer = await asyncio.to_thread(read_until_closed, slow)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"did not arrive within 0.5 s" in answer


async def test_past_the_connection_cap_a_new_connection_gets_503_until_room_is_made(
        site) -> None:
    port = site.port()
    held = [connect(port) for _ in range(3)]
    try:
        with connect(port) as extra:
            answer = await asyncio.to_thread(read_until_closed, extra)
        assert answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
        assert b"Retry-After: 1" in answer and answer.endswith(b"retry soon\"}}")
        # The idle ones reach their header timeout and are closed; then there is room again.
        for sock in held:
            assert await asyncio.to_thread(read_until_closed, sock) == b""
    finally:
        for sock in held:
            sock.close()
    assert await healthz(port) == 200


async def test_malformed_requests_are_a_few_warning_lines_not_tracebacks(
        site, caplog: pytest.LogCaptureFixture) -> None:
    port = site.port()
    caplog.set_level(logging.DEBUG)

    def garbage() -> list[bytes]:
        answers = []
        for i in range(LOG_LINES_PER_MINUTE + 10):
            with connect(port) as sock:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nBad Header Line %d\r\n\r\n" % i)
                answers.append(read_until_closed(sock))
        return answers

    answers = await asyncio.to_thread(garbage)
    assert all(a.startswith(b"HTTP/1.") and a[9:13] == b"400 " for a in answers), answers[0]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    lines = [r for r in caplog.records if "malformed HTTP request" in r.getMessage()]
    assert 1 <= len(lines) <= LOG_LINES_PER_MINUTE
    assert all(r.levelno == logging.WARNING and r.exc_info is None for r in lines)
