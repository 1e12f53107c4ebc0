"""The HTTP listener against slow and broken clients, with raw sockets over loopback: a client
that never finishes its request head or its body is closed while normal requests are served,
past the connection cap a new connection gets 503 at once, and malformed requests cost a few
WARNING lines, never a traceback. Timeouts are configured short; nothing measures time."""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import signal
import smtplib
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from deskgate.gateway.config import Config, HttpConfig
from deskgate.gateway.edge import LOG_LINES_PER_MINUTE, GuardedSite
from deskgate.gateway.web.app import create_app


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


@pytest.mark.parametrize("request_bytes", [
    # a bare LF inside the head: aiohttp's message quotes the Authorization line
    b"GET /api/v1/queues HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer dgt_SECRET\nX: y\r\n\r\n",
    # a control character in a signed query string: the message is the raw target
    b"GET /webhooks/wechat/a?signature=dgt_SECRET\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nCookie: dg_session=dgt_SECRET\x00\r\n\r\n",
], ids=["authorization", "query", "cookie"])
async def test_a_malformed_request_is_logged_without_its_bytes(
        site, caplog: pytest.LogCaptureFixture, request_bytes: bytes) -> None:
    caplog.set_level(logging.DEBUG)

    def send() -> bytes:
        with connect(site.port()) as sock:
            sock.sendall(request_bytes)
            return read_until_closed(sock)

    assert (await asyncio.to_thread(send))[8:13] == b" 400 "
    assert "dgt_SECRET" not in caplog.text
    assert not any("dgt_SECRET" in str(r.exc_info) for r in caplog.records)
    lines = [r for r in caplog.records if "malformed HTTP request" in r.getMessage()]
    assert [r.levelno for r in lines] == [logging.WARNING]


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def _small_file_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (300, 400))


@pytest.mark.slow
def test_serve_under_a_small_file_limit_meets_a_flood_with_its_caps_not_emfile(
        tmp_path: Path, free_port: Any, wait_for: Any) -> None:
    """`ulimit -n 300` (hard 400), 600 idle HTTP and 40 idle SMTP connections: serve raises its
    soft limit, fits its caps under it, answers the excess 503 / 421, keeps serving, and
    recovers once the idle ones reach their timeouts."""
    env = {k: v for k, v in os.environ.items() if k != "DESKGATE_REDIS_URL"}
    port, smtp_port = free_port(), free_port()
    conf = tmp_path / "deskgate.yaml"
    conf.write_text("http: {header_timeout_seconds: 5}\n"
                    "email:\n  smtp: {timeout_seconds: 5}\n"
                    "  inboxes: [{address: '*', account: support}]\n")
    serve = subprocess.Popen(
        [sys.executable, "-m", "deskgate.gateway.cli.main", "serve", "--port", str(port),
         "--smtp-port", str(smtp_port), "--workers", "0", "--job-workers", "0",
         "--data-dir", str(tmp_path / "data"), "--config", str(conf)],
        env=env, stderr=subprocess.PIPE, text=True, preexec_fn=_small_file_limit)
    base = f"http://127.0.0.1:{port}"
    held: list[socket.socket] = []
    try:
        wait_for(lambda: _status(f"{base}/healthz") == 200, 60, "serve to answer /healthz")
        smtp_answers = []
        for _ in range(40):
            sock = socket.create_connection(("127.0.0.1", smtp_port), timeout=30)
            held.append(sock)
            smtp_answers.append(sock.recv(200))
        assert any(a.startswith(b"220 ") for a in smtp_answers)
        assert any(a.startswith(b"421 4.7.0") and b"too many connections" in a
                   for a in smtp_answers)
        assert _status(f"{base}/healthz") == 200          # SMTP at its cap, HTTP serves
        http_held = [socket.create_connection(("127.0.0.1", port), timeout=30)
                     for _ in range(600)]
        held.extend(http_held)
        # Each gets 503 at once (past the cap) or is closed at its header timeout: nothing
        # else, no reset, no connection left hanging.
        answers = [sock.recv(200) for sock in http_held]
        assert {a[:13] for a in answers} <= {b"HTTP/1.1 503 ", b""}
        assert answers.count(b"") < len(answers)
        # The idle ones are closed at their timeouts; then both listeners serve again.
        wait_for(lambda: _status(f"{base}/healthz") == 200, 60, "HTTP to recover")
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as s:
            assert s.noop()[0] == 250
    finally:
        for sock in held:
            sock.close()
        serve.send_signal(signal.SIGTERM)
        _, err = serve.communicate(timeout=60)
    assert "Too many open files" not in err and "out of system resource" not in err
    assert "400 open files allowed" in err                # raised from 300, caps fitted
