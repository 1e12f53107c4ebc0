"""The SMTP listener against slow and greedy clients, with real sockets: an idle client and a
client that stalls inside DATA get 421 and are closed, a client over the per-address or total
connection cap gets 421 before the banner, and a normal sender is served all the while. The
banner names the host only. Timeouts are configured short; nothing here measures time."""

from __future__ import annotations

import asyncio
import smtplib
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient

from deskgate.gateway.config import Config, parse_config
from deskgate.gateway.mail.smtp import smtp_port
from deskgate.gateway.web.app import create_app

AppClient = Callable[[web.Application], Awaitable[TestClient]]
MAIL = "From: li@example.cn\r\nTo: support@example.com\r\nSubject: hi\r\n\r\n你好\r\n".encode()


def smtp_config(prefix: str, settings: str) -> Config:
    return parse_config(f"""
redis_prefix: "{prefix}"
email:
  smtp: {{host: 127.0.0.1, port: 0, hostname: mx.test, {settings}}}
  inboxes:
    - {{address: support@example.com, account: support}}
""")


async def start(aiohttp_client: AppClient, config: Config, redis_url: str,
                data_dir: Path) -> tuple[TestClient, int]:
    app = create_app(config, redis_url, data_dir, run_workers=False)
    client = await aiohttp_client(app)
    return client, smtp_port(app)


def connect(port: int, source: str = "127.0.0.1") -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=60, source_address=(source, 0))


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a 60 s socket timeout
    only turns a server that never closes into a failure instead of a hang)."""
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data


def read_line(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = sock.recv(1)
        if not chunk:
            break
        data += chunk
    return data


def send_mail(port: int) -> dict:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        return s.sendmail("li@example.cn", ["support@example.com"], MAIL)


async def test_the_banner_names_the_host_and_esmtp_only(aiohttp_client, prefix, redis_url,
                                                        data_dir) -> None:
    _, port = await start(aiohttp_client, smtp_config(prefix, "timeout_seconds: 30"),
                          redis_url, data_dir)
    with connect(port) as sock:
        banner = await asyncio.to_thread(read_line, sock)
    assert banner == b"220 mx.test ESMTP\r\n"


async def test_an_idle_client_gets_421_and_is_closed_while_mail_flows(
        aiohttp_client, prefix, redis_url, data_dir) -> None:
    _, port = await start(aiohttp_client, smtp_config(prefix, "timeout_seconds: 0.5"),
                          redis_url, data_dir)
    with connect(port) as idle:
        assert (await asyncio.to_thread(read_line, idle)).startswith(b"220 ")
        assert await asyncio.to_thread(send_mail, port) == {}
        rest = await asyncio.to_thread(read_until_closed, idle)
    assert rest.startswith(b"421 4.4.2 mx.test Error: timeout exceeded")


async def test_a_client_that_stalls_in_data_gets_421_at_the_data_deadline(
        aiohttp_client, prefix, redis_url, data_dir, r) -> None:
    _, port = await start(aiohttp_client,
                          smtp_config(prefix, "timeout_seconds: 60, data_timeout_seconds: 0.5"),
                          redis_url, data_dir)
    with connect(port) as slow:
        await asyncio.to_thread(read_line, slow)
        for command in (b"EHLO slow.test", b"MAIL FROM:<a@example.net>",
                        b"RCPT TO:<support@example.com>", b"DATA"):
            slow.sendall(command + b"\r\n")
            reply = await asyncio.to_thread(read_line, slow)
            while reply[3:4] == b"-":             # multi-line EHLO answer
                reply = await asyncio.to_thread(read_line, slow)
        assert reply.startswith(b"354")
        slow.sendall(b"Subject: half a mail\r\n")   # and then nothing more
        rest = await asyncio.to_thread(read_until_closed, slow)
    assert rest.startswith(b"421 4.4.2")
    assert r.xlen(f"{prefix}ingest") == 0          # nothing half-received was accepted


async def test_connection_caps_answer_421_and_http_still_works(
        aiohttp_client, prefix, redis_url, data_dir) -> None:
    http, port = await start(
        aiohttp_client,
        smtp_config(prefix, "timeout_seconds: 60, max_connections: 4, "
                           "max_connections_per_client: 3"),
        redis_url, data_dir)
    held = [connect(port) for _ in range(3)]
    try:
        for sock in held:
            assert (await asyncio.to_thread(read_line, sock)).startswith(b"220 ")
        with connect(port) as fourth:                # 4th from the same address
            refused = await asyncio.to_thread(read_until_closed, fourth)
        assert refused == b"421 4.7.0 mx.test Error: too many connections from 127.0.0.1\r\n"
        with connect(port, "127.0.0.2") as other:
            assert (await asyncio.to_thread(read_line, other)).startswith(b"220 ")
            with connect(port, "127.0.0.3") as over_total:
                refused = await asyncio.to_thread(read_until_closed, over_total)
        assert refused == b"421 4.7.0 mx.test Error: too many connections\r\n"
        assert (await http.get("/healthz")).status == 200
    finally:
        for sock in held:
            sock.close()
