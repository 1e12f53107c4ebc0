"""Fixtures for replies: tickets stored the way the triage worker stores them (from a
customer's message on a given channel) and held by an agent, over real Redis; the SMTP relay
(tests/outbound/relay.py) every test's config sends email replies through; a sender worker."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from deskgate.gateway.config import Config, parse_config
from deskgate.models.enums import Channel, IdentityKind
from deskgate.models.message import Identity, InboundMessage, Sender
from deskgate.models.scoring import queue_score
from deskgate.models.ticket import Agent
from deskgate.models.triage import Triage
from deskgate.queue.keys import Keys
from deskgate.queue.tickets import Placement, TicketStore
from deskgate.queue.work import Work
from tests.email.dnszone import DnsStandIn
from tests.work.conftest import triage

from .relay import PASSWORD, USER, Relay, start_relay

_n = itertools.count(1)


def email_message(address: str = "li.lei@example.cn", *, account: str = "support",
                  subject: str = "订单 A1234 退货", text: str = "我要退货",
                  at: float | None = None) -> InboundMessage:
    n = next(_n)
    mid = f"cust-{n}-{time.time_ns()}@example.cn"
    return InboundMessage(
        channel=Channel.EMAIL, account=account, external_id=f"<{mid}>",
        sender=Sender((Identity(IdentityKind.EMAIL, address),), name="李雷"),
        received_at=datetime.fromtimestamp(at or time.time(), UTC), text=text, subject=subject,
        thread_key=mid, meta={"message_id": mid})


def chat_message(channel: Channel = Channel.TELEGRAM, user: str = "4242", *,
                 account: str = "bot", at: float | None = None) -> InboundMessage:
    n = next(_n)
    return InboundMessage(
        channel=channel, account=account, external_id=f"chat-{n}-{time.time_ns()}",
        sender=Sender((Identity(IdentityKind.PLATFORM, f"{channel}:{account}:{user}"),)),
        received_at=datetime.fromtimestamp(at or time.time(), UTC), text="在吗？",
        thread_key=f"{account}:{user}")


class Tickets:
    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self.store = TicketStore(client, keys)
        self.work = Work(client, keys, lease_seconds=600)
        self.client = client

    async def open(self, message: InboundMessage, *, skill: str = "general",
                   holder: str = "ann", triaged: Triage | None = None) -> str:
        """A ticket from `message`, in `skill`'s queue and leased to `holder` ("" = nobody)."""
        now = message.received_at.timestamp()
        [ctx] = await self.store.resolve_customers([message], now)
        t = triaged or triage()
        [applied] = await self.store.apply([Placement(
            message, ctx.customer_id, t, skill, queue_score(now, t.priority, "standard"))], now)
        if holder:
            result = await self.work.act("transfer_agent", applied.ticket_id, "setup",
                                         privileged=True, arg=holder)
            assert result.outcome == "ok", result
        return applied.ticket_id


@pytest.fixture
async def tickets(aclient: aioredis.Redis, keys: Keys) -> Tickets:
    work = Work(aclient, keys)
    for agent, skill in (("ann", "general"), ("bo", "general"), ("cy", "billing")):
        await work.put_agent(Agent(id=agent, skills={skill: 1}, capacity=20))
    return Tickets(aclient, keys)


@pytest.fixture(scope="module")
def dns() -> Iterator[DnsStandIn]:
    server = DnsStandIn()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def relay(tmp_path: Path, free_port: Callable[[], int]) -> Iterator[tuple[Relay, Path]]:
    controller, relay, cert = start_relay(tmp_path, free_port())
    yield relay, cert
    if relay.hold is not None:
        relay.hold.set()
    controller.stop()


def relay_config(prefix: str, relay: Relay, cert: Path, dns: DnsStandIn,
                 relay_timeout: float = 30.0) -> str:
    """The config as YAML text (a sender process reads it from a file)."""
    return f"""
redis_prefix: "{prefix}"
workers: {{block_ms: 50, claim_idle_ms: 500, lease_seconds: 600}}
senders: {{block_ms: 50, claim_idle_ms: 500, max_attempts: 3}}
email:
  sender_auth: {{nameservers: ["{dns.address}"], dns_timeout_seconds: 2}}
  smtp: {{host: 127.0.0.1, port: 0}}
  inboxes:
    - {{address: support@shop.example.cn, account: support, skill: general}}
  relay:
    host: 127.0.0.1
    port: {relay.port}
    security: starttls
    username: {USER}
    password: {PASSWORD}
    ca_file: {cert}
    timeout_seconds: {relay_timeout}
    from_addresses: {{support: "小店客服 <support@shop.example.cn>"}}
"""


@pytest.fixture
def config(prefix: str, relay: tuple[Relay, Path], dns: DnsStandIn) -> Config:
    return parse_config(relay_config(prefix, relay[0], relay[1], dns))
