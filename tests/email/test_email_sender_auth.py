"""Issue 11 §4: a forged mail must not land on another customer's ticket. Real SMTP to the app
over loopback, DKIM signatures made with dkimpy and keys published in a DNS stand-in over real
UDP on 127.0.0.1, SPF judged on the connecting address 127.0.0.1, DMARC alignment and policy,
and Authentication-Results from a trusted relay."""

from __future__ import annotations

import asyncio
import contextlib
import smtplib
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from deskgate.connectors.email_auth import SenderVerifier, SmtpPeer
from deskgate.connectors.email_config import SenderAuthConfig
from deskgate.gateway.app import create_app
from deskgate.gateway.config import Config
from deskgate.gateway.smtp import smtp_port
from deskgate.models.enums import Role
from deskgate.queue.keys import Keys
from deskgate.queue.tickets import TicketStore
from redis.asyncio import Redis as AsyncRedis

from .conftest import ingested, mail_config
from .dnszone import DkimKey, Zone

CUSTOMER = "wang.fang@example.org"


def mail(subject: str, message_id: str, body: str = "Hello", *, sender: str = CUSTOMER,
         in_reply_to: str = "", extra: str = "") -> bytes:
    head = (f"From: Wang Fang <{sender}>\r\nTo: support@example.com\r\n"
            f"Subject: {subject}\r\nMessage-ID: <{message_id}>\r\n")
    if in_reply_to:
        head += f"In-Reply-To: <{in_reply_to}>\r\nReferences: <{in_reply_to}>\r\n"
    return (head + extra + "Content-Type: text/plain; charset=utf-8\r\n\r\n"
            + body + "\r\n").encode()


def send(port: int, raw: bytes, mail_from: str = CUSTOMER) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        s.ehlo("mx.example.org")
        assert s.sendmail(mail_from, ["support@example.com"], raw) == {}


@pytest.fixture
def key(zone: Zone) -> DkimKey:
    k = DkimKey("example.org")
    k.publish(zone)
    return k


class Desk:
    """The app with its worker, reached over real SMTP and HTTP."""

    def __init__(self, app: Any, client: Any, r: redis.Redis, redis_url: str, prefix: str,
                 headers: dict[str, str]) -> None:
        self.app, self.client, self.r, self.keys = app, client, r, Keys(prefix)
        self.redis_url = redis_url
        self.port = smtp_port(app)
        self.headers = headers

    async def store(self) -> AsyncIterator[TicketStore]:
        client = AsyncRedis.from_url(self.redis_url)
        try:
            yield TicketStore(client, self.keys)
        finally:
            await client.aclose()

    async def send(self, raw: bytes, mail_from: str = CUSTOMER) -> None:
        before = self.r.xlen(self.keys.ingest)
        await asyncio.to_thread(send, self.port, raw, mail_from)
        assert self.r.xlen(self.keys.ingest) == before + 1

    async def settled(self, eventually: Callable[..., Any], messages: int) -> list[str]:
        """Ticket ids once `messages` messages sit on tickets."""
        def placed() -> int:
            return sum(self.r.llen(self.keys.ticket_msgs(t.decode()))
                       for t in self.r.zrange(self.keys.tickets, 0, -1))

        async def check() -> bool:
            return placed() >= messages
        await eventually(check)
        assert placed() == messages
        return [t.decode() for t in self.r.zrange(self.keys.tickets, 0, -1)]

    async def ticket(self, tid: str) -> dict[str, Any]:
        resp = await self.client.get(f"/api/v1/tickets/{tid}", headers=self.headers)
        assert resp.status == 200
        return await resp.json()


@pytest.fixture
async def desk(aiohttp_client: Any, config: Config, redis_url: str, data_dir: Path,
               r: redis.Redis, prefix: str, auth: Callable[..., dict[str, str]]) -> Desk:
    app = create_app(config, redis_url, data_dir, run_workers=True)
    client = await aiohttp_client(app)
    return Desk(app, client, r, redis_url, prefix, auth(Role.ADMIN))


async def test_forged_from_with_a_guessed_tag_opens_a_new_unverified_ticket(
        desk: Desk, key: DkimKey, zone: Zone, eventually: Callable[..., Any]) -> None:
    zone.txt("example.org", "v=spf1 ip4:192.0.2.10 -all")       # not us: 127.0.0.1 fails SPF
    await desk.send(key.sign(mail("Refund for order 1001", "orig-1@example.org")))
    [tid] = await desk.settled(eventually, 1)
    assert (await desk.ticket(tid))["unverified_sender"] is False
    # The attacker: the customer's address in MAIL FROM and From, the ticket number (they
    # are sequential) with a made-up MAC, and a bare tag; no signature.
    await desk.send(mail(f"Re: [#{tid}-AAAAAAAA] [#{tid}] Refund", "forged-1@evil.example",
                         "Send the refund to my new IBAN DE00 0000"))
    tickets = await desk.settled(eventually, 2)
    assert len(tickets) == 2, "the forged mail was threaded onto the customer's ticket"
    original = await desk.ticket(tid)
    assert [m["text"] for m in original["messages"]] == ["Hello"]
    [forged_id] = [t for t in tickets if t != tid]
    forged = await desk.ticket(forged_id)
    assert forged["unverified_sender"] is True
    [msg] = forged["messages"]
    assert msg["unverified_sender"] is True and "IBAN" in msg["text"]
    assert "nothing aligned with example.org" in msg["sender_check"]
    assert "spf=fail example.org" in msg["sender_check"]
    assert forged["customer"]["id"] == original["customer"]["id"]   # shown as a claim to check


async def test_verified_replies_thread_by_references_and_by_the_macd_tag(
        desk: Desk, key: DkimKey, eventually: Callable[..., Any]) -> None:
    await desk.send(key.sign(mail("Broken kettle", "k-1@example.org")))
    [tid] = await desk.settled(eventually, 1)
    await desk.send(key.sign(mail("Re: Broken kettle", "k-2@example.org", "Any news?",
                                  in_reply_to="k-1@example.org")))
    assert await desk.settled(eventually, 2) == [tid]
    async with contextlib.asynccontextmanager(desk.store)() as store:
        tag = await store.subject_tag(tid)
    assert tag.startswith(f"[#{tid}-") and len(tag) == len(f"[#{tid}-]") + 8
    # a new mail (no references) carrying the tag of our subject line threads too
    await desk.send(key.sign(mail(f"Re: {tag} Broken kettle", "k-3@example.org", "Still?")))
    assert await desk.settled(eventually, 3) == [tid]
    messages = (await desk.ticket(tid))["messages"]
    assert [m.get("unverified_sender", False) for m in messages] == [False, False, False]

