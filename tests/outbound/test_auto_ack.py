"""The automatic acknowledgement, through the real webhook route, triage worker, outbox and
sender: a new ticket is acknowledged once with its number and the SLA's first-response time
(which it does not stop); a customer gets at most one per window; mail whose sender is not
verified gets none (a forged From must not make us write to a stranger)."""

from __future__ import annotations

import asyncio
import json
import smtplib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from deskgate.connectors.webchat import sign
from deskgate.gateway.config import Config, parse_config
from deskgate.gateway.mail.smtp import smtp_port
from deskgate.gateway.web.app import create_app
from deskgate.queue.keys import Keys
from deskgate.queue.outbox import Outbox
from tests.email.dnszone import DnsStandIn

from .conftest import relay_config
from .relay import Relay

SECRET = "site-secret-0123456789abcdef"


@pytest.fixture
def config(prefix: str, relay: tuple[Relay, Path], dns: DnsStandIn) -> Config:
    return parse_config(relay_config(prefix, relay[0], relay[1], dns) + f"""
channels:
  webchat:
    site: {{secret: {SECRET}, verified_contacts: true}}
    shop: {{secret: {SECRET}, verified_contacts: true}}
sla:
  sla:
    - {{name: all, first_response_minutes: 120, resolution_minutes: 1440, business_hours: false}}
auto_ack:
  enabled: true
  window_hours: 24
""")


async def chat(client: Any, account: str, n: int, email: str) -> None:
    body = json.dumps({"message_id": f"m-{n}", "conversation_id": f"c-{n}",
                       "visitor": {"id": f"v-{n}", "email": email},
                       "text": "你好，我的订单 A12345678 还没有发货，请帮忙查一下"},
                      ensure_ascii=False).encode()
    ts = str(int(time.time()))
    resp = await client.post(f"/webhooks/webchat/{account}", data=body, headers={
        "X-Deskgate-Timestamp": ts, "X-Deskgate-Signature": sign(SECRET, ts, body),
        "Content-Type": "application/json"})
    assert resp.status == 200, await resp.text()


async def all_replies(aclient: aioredis.Redis, keys: Keys) -> list[Any]:
    box = Outbox(aclient, keys)
    out = []
    for tid in await aclient.zrange(keys.tickets, 0, -1):
        out += [(tid.decode(), r) for r in await box.thread(tid.decode())]
    return out


async def test_acknowledged_once_per_customer_with_ticket_and_hours(
        aiohttp_client: Any, config: Config, redis_url: str, data_dir: Path,
        aclient: aioredis.Redis, keys: Keys, eventually: Callable[..., Any]) -> None:
    app = create_app(config, redis_url, data_dir, run_workers=True)
    client = await aiohttp_client(app)
    await chat(client, "site", 1, "li@example.cn")

    async def acked() -> Any:
        return await all_replies(aclient, keys)

    [(tid, ack)] = await eventually(acked)
    assert ack.message.author == "auto"
    assert tid in ack.message.text and "2 小时" in ack.message.text, ack.message.text
    assert await aclient.hget(keys.ticket(tid), "frt_done") is None   # not a first response
    # the same customer (verified email) opens a second ticket on another account
    await chat(client, "shop", 2, "li@example.cn")

    async def two_tickets() -> Any:
        return await aclient.zcard(keys.tickets) == 2

    await eventually(two_tickets)
    assert len(await all_replies(aclient, keys)) == 1
    # another customer is acknowledged
    await chat(client, "site", 3, "wang@example.cn")

    async def second() -> Any:
        return len(await all_replies(aclient, keys)) == 2

    await eventually(second)


async def test_unverified_mail_sender_gets_no_acknowledgement(
        aiohttp_client: Any, config: Config, redis_url: str, data_dir: Path,
        aclient: aioredis.Redis, keys: Keys, eventually: Callable[..., Any]) -> None:
    app = create_app(config, redis_url, data_dir, run_workers=True)
    await aiohttp_client(app)
    raw = (b"From: someone@example.net\r\nTo: support@shop.example.cn\r\n"
           b"Subject: =?utf-8?b?6YCA6LSn?=\r\nMessage-ID: <forged-1@example.net>\r\n\r\n"
           b"please refund\r\n")

    def send() -> None:
        with smtplib.SMTP("127.0.0.1", smtp_port(app), timeout=10) as s:
            s.sendmail("someone@example.net", ["support@shop.example.cn"], raw)

    await asyncio.to_thread(send)

    async def handled() -> Any:
        # the worker acknowledges the ingest entry only after the acknowledgement step
        return (await aclient.zcard(keys.tickets) == 1
                and (await aclient.xpending(keys.ingest, "triage"))["pending"] == 0)

    await eventually(handled)
    tid = (await aclient.zrange(keys.tickets, 0, -1))[0].decode()
    assert await aclient.hget(keys.ticket(tid), "frt_due") is not None
    assert await all_replies(aclient, keys) == []
    assert await aclient.xlen(keys.outbox) == 0
