"""Issue 11 §4: a forged mail must not land on another customer's ticket. Real SMTP to the app
over loopback, DKIM signatures made with dkimpy and keys published in a DNS stand-in over real
UDP on 127.0.0.1, SPF judged on the connecting address 127.0.0.1, DMARC alignment and policy,
and Authentication-Results from a trusted relay."""

from __future__ import annotations

import asyncio
import contextlib
import smtplib
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.asyncio import Redis as AsyncRedis

from deskgate.connectors.email_auth import SenderVerifier, SmtpPeer
from deskgate.connectors.email_config import SenderAuthConfig
from deskgate.gateway.config import Config
from deskgate.gateway.mail.smtp import smtp_port
from deskgate.gateway.web.app import create_app
from deskgate.models.enums import Role
from deskgate.queue.keys import Keys
from deskgate.queue.tickets import TicketStore

from .conftest import ingested, mail_config
from .dnszone import DkimKey, DnsStandIn, Zone
from .dovecot import Dovecot

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
    # are sequential) with a made-up MAC, and a bare tag; no signature. They even know the
    # Message-ID of the customer's mail (anyone Cc'd on it does).
    await desk.send(mail(f"Re: [#{tid}-AAAAAAAA] [#{tid}] Refund", "forged-1@evil.example",
                         "Send the refund to my new IBAN DE00 0000",
                         in_reply_to="orig-1@example.org"))
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
    # nor did the forged mail take over the thread: the customer's real reply to their first
    # mail lands on their ticket
    await desk.send(key.sign(mail("Re: Refund", "orig-2@example.org", "Any news?",
                                  in_reply_to="orig-1@example.org")))
    assert len(await desk.settled(eventually, 3)) == 2
    assert [m["text"] for m in (await desk.ticket(tid))["messages"]] == ["Hello", "Any news?"]


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
    # the customer's own (verified) mail with a wrong MAC or a bare number is a new ticket
    await desk.send(key.sign(mail(f"Re: [#{tid}-AAAAAAAA] [#{tid}] kettle", "k-4@example.org")))
    assert len(await desk.settled(eventually, 4)) == 2



async def test_an_unverified_reply_threads_only_onto_mail_we_sent_to_that_address(
        desk: Desk, eventually: Callable[..., Any]) -> None:
    await desk.send(mail("Where is my parcel?", "p-1@example.org"))
    [tid] = await desk.settled(eventually, 1)
    assert (await desk.ticket(tid))["unverified_sender"] is True   # no proof for it either
    async with contextlib.asynccontextmanager(desk.store)() as store:
        await store.record_sent(CUSTOMER.upper(), "<dg-out-1@support.example.com>", tid)
    # knowing the customer's own Message-ID (a Cc'd stranger does) is not enough ...
    await desk.send(mail("Re: parcel", "p-2@evil.example", "New address: ...",
                         in_reply_to="p-1@example.org"))
    tickets = await desk.settled(eventually, 2)
    assert len(tickets) == 2
    # ... but answering the mail we sent to that address is
    await desk.send(mail("Re: parcel", "p-3@example.org", "Thanks, it arrived",
                         in_reply_to="dg-out-1@support.example.com"))
    assert await desk.settled(eventually, 3) == tickets
    texts = [m["text"] for m in (await desk.ticket(tid))["messages"]]
    assert texts == ["Hello", "Thanks, it arrived"]
    # the same reference from another address does not thread
    await desk.send(mail("Re: parcel", "p-4@evil.example", "me too", sender="eve@example.net",
                         in_reply_to="dg-out-1@support.example.com"),
                    mail_from="eve@example.net")
    assert len(await desk.settled(eventually, 4)) == 3


def _auth_of_last(r: redis.Redis, prefix: str) -> Any:
    auth = ingested(r, prefix)[-1].sender_auth
    assert auth is not None
    return auth


async def smtp_app(aiohttp_client: Any, config: Config, redis_url: str,
                   data_dir: Path) -> int:
    app = create_app(config, redis_url, data_dir, run_workers=False)
    await aiohttp_client(app)
    return smtp_port(app)


@pytest.mark.parametrize(("record", "verified"), [
    ("v=spf1 ip4:127.0.0.0/8 -all", True),
    ("v=spf1 a:mail.example.org ip4:192.0.2.10 -all", False),
    ("v=spf1 ip4:127.0.0.1 ~all", True),
    ("v=spf1 include:_spf.example.org -all", True),
])
async def test_spf_judges_the_connecting_address(
        aiohttp_client: Any, config: Config, redis_url: str, data_dir: Path, r: redis.Redis,
        prefix: str, zone: Zone, record: str, verified: bool) -> None:
    zone.txt("example.org", record)
    zone.txt("_spf.example.org", "v=spf1 ip4:127.0.0.1 -all")
    port = await smtp_app(aiohttp_client, config, redis_url, data_dir)
    await asyncio.to_thread(send, port, mail("SPF", "spf-1@example.org"))
    auth = _auth_of_last(r, prefix)
    assert auth.verified is verified
    assert ("spf=pass example.org" in auth.detail) is verified
    assert auth.method == ("spf" if verified else "")


@pytest.mark.parametrize(("signer", "dmarc", "verified"), [
    ("example.org", "", True),                                   # same domain
    ("mail.example.org", "v=DMARC1; p=reject", True),            # relaxed: same org domain
    ("mail.example.org", "v=DMARC1; p=reject; adkim=s", False),  # strict alignment asked
    ("esp-mailer.example.net", "v=DMARC1; p=none", False),       # a valid, unaligned signature
])
async def test_dkim_verifies_only_when_aligned_with_the_from_domain(
        aiohttp_client: Any, config: Config, redis_url: str, data_dir: Path, r: redis.Redis,
        prefix: str, zone: Zone, signer: str, dmarc: str, verified: bool) -> None:
    key = DkimKey(signer)
    key.publish(zone)
    if dmarc:
        zone.txt("_dmarc.example.org", dmarc)
    port = await smtp_app(aiohttp_client, config, redis_url, data_dir)
    await asyncio.to_thread(send, port, key.sign(mail("DKIM", "dkim-1@example.org")),
                            "bounces@esp-mailer.example.net")
    auth = _auth_of_last(r, prefix)
    assert f"dkim=pass d={signer}" in auth.detail        # the signature itself is good
    assert auth.verified is verified
    assert ("dmarc policy p=" in auth.detail) is bool(dmarc)


async def test_a_tampered_signed_mail_is_not_verified(
        aiohttp_client: Any, config: Config, redis_url: str, data_dir: Path, r: redis.Redis,
        prefix: str, key: DkimKey) -> None:
    port = await smtp_app(aiohttp_client, config, redis_url, data_dir)
    signed = key.sign(mail("Pay me", "t-1@example.org", "Pay 10 EUR"))
    await asyncio.to_thread(send, port, signed.replace(b"Pay 10 EUR", b"Pay 9999 EUR"))
    auth = _auth_of_last(r, prefix)
    assert not auth.verified and "dkim=fail d=example.org" in auth.detail


def relay_config(prefix: str, dns: DnsStandIn) -> Config:
    return mail_config(prefix, f"""  sender_auth:
    nameservers: ["{dns.address}"]
    trusted_authserv_ids: [mx.deskgate.test]
    trusted_relays: [127.0.0.0/8]
""")


@pytest.mark.parametrize(("results", "verified"), [
    ("mx.deskgate.test; dkim=pass header.d=example.org; dmarc=pass header.from=example.org",
     True),
    ("mx.deskgate.test;\r\n\tspf=pass smtp.mailfrom=bounce@mail.example.org", True),
    ("mx.deskgate.test; dkim=pass header.d=esp.example.net; spf=pass "
     "smtp.mailfrom=b@esp.example.net", False),
    ("mx.deskgate.test; dmarc=fail header.from=example.org", False),
    ("mx.evil.example; dmarc=pass header.from=example.org", False),   # not our MTA
    ("mx.deskgate.test; dmarc=pass header.from=other.example", False),
])
async def test_authentication_results_count_only_from_a_trusted_authserv_id(
        aiohttp_client: Any, redis_url: str, data_dir: Path, r: redis.Redis, prefix: str,
        dns: DnsStandIn, results: str, verified: bool) -> None:
    port = await smtp_app(aiohttp_client, relay_config(prefix, dns), redis_url, data_dir)
    raw = mail("Relayed", "ar-1@example.org",
               extra=f"Authentication-Results: {results}\r\n")
    await asyncio.to_thread(send, port, raw)
    auth = _auth_of_last(r, prefix)
    assert auth.verified is verified
    assert (auth.method == "authentication-results") is verified


async def test_a_forged_pass_below_our_mtas_fail_does_not_win(
        aiohttp_client: Any, redis_url: str, data_dir: Path, r: redis.Redis,
        prefix: str, dns: DnsStandIn) -> None:
    port = await smtp_app(aiohttp_client, relay_config(prefix, dns), redis_url, data_dir)
    raw = mail("Relayed", "ar-2@example.org", extra=(
        "Authentication-Results: mx.deskgate.test; dmarc=fail header.from=example.org\r\n"
        "Authentication-Results: mx.deskgate.test; dmarc=pass header.from=example.org\r\n"))
    await asyncio.to_thread(send, port, raw)
    assert not _auth_of_last(r, prefix).verified


def test_imap_copies_are_judged_by_trusted_results_or_our_own_dkim_check(
        dns: DnsStandIn, zone: Zone, key: DkimKey) -> None:
    cfg = SenderAuthConfig(nameservers=(dns.address,),
                           trusted_authserv_ids=("mx.deskgate.test",))
    verifier = SenderVerifier(cfg)
    trusted = mail("x", "i-1@example.org", extra=(
        "Authentication-Results: mx.deskgate.test; dmarc=pass header.from=example.org\r\n"))
    assert verifier.check(trusted, CUSTOMER).method == "authentication-results"
    # no trusted header: DKIM alignment is the one proof that survives relaying
    signed = key.sign(mail("x", "i-2@example.org"))
    assert verifier.check(signed, CUSTOMER).method == "dkim"
    assert not verifier.check(mail("x", "i-3@example.org"), CUSTOMER).verified
    # SPF is never judged without the SMTP session that delivered the mail
    zone.txt("example.org", "v=spf1 +all")
    assert not verifier.check(mail("x", "i-4@example.org"), CUSTOMER).verified


@pytest.fixture
def silent_dns() -> Iterator[socket.socket]:
    """A UDP socket on loopback that never answers: every query to it times out."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    yield sock
    sock.close()


def _address(sock: socket.socket) -> str:
    host, port = sock.getsockname()
    return f"{host}:{port}"


def test_dns_lookups_are_bounded_per_message(silent_dns: socket.socket) -> None:
    cfg = SenderAuthConfig(nameservers=(_address(silent_dns),), dns_timeout_seconds=0.2,
                           dns_budget_seconds=0.5)
    auth = SenderVerifier(cfg).check(mail("x", "b-1@example.org"), CUSTOMER,
                                     SmtpPeer("127.0.0.1", "mx.example.org", CUSTOMER))
    assert not auth.verified
    assert "spf=temperror" in auth.detail and "dmarc=temperror" in auth.detail


async def test_a_slow_dns_does_not_block_the_event_loop(
        aiohttp_client: Any, redis_url: str, data_dir: Path, prefix: str, r: redis.Redis,
        silent_dns: socket.socket) -> None:
    config = mail_config(prefix, f"""  sender_auth:
    nameservers: ["{_address(silent_dns)}"]
    dns_timeout_seconds: 3
    dns_budget_seconds: 6
""")
    app = create_app(config, redis_url, data_dir, run_workers=False)
    client = await aiohttp_client(app)
    delivery = asyncio.ensure_future(asyncio.to_thread(
        send, smtp_port(app), mail("x", "slow-1@example.org")))
    await asyncio.to_thread(silent_dns.recvfrom, 4096)   # the check now waits on DNS
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert not delivery.done(), "the SMTP delivery finished before /healthz answered"
    await delivery                                        # accepted once the budget is spent
    auth = _auth_of_last(r, prefix)
    assert not auth.verified and "temperror" in auth.detail


@pytest.mark.imap
async def test_imap_mail_trusts_authentication_results_of_our_mta_only(
        aiohttp_client: Any, dovecot: Dovecot, prefix: str, redis_url: str, data_dir: Path,
        r: redis.Redis, dns: DnsStandIn, eventually: Callable[..., Any]) -> None:
    user = f"auth-{prefix.strip(':')}-{time.time_ns()}"
    c = dovecot.client(user)
    try:
        for n, authserv in enumerate(("mx.deskgate.test", "mx.evil.example")):
            c.append("INBOX", mail("IMAP", f"imap-{n}@example.org", extra=(
                f"Authentication-Results: {authserv}; dkim=pass header.d=example.org;"
                " dmarc=pass header.from=example.org\r\n")))
    finally:
        c.logout()
    config = mail_config(prefix, f"""  sender_auth:
    nameservers: ["{dns.address}"]
    trusted_authserv_ids: [mx.deskgate.test]
  imap:
    - {{name: auth, host: 127.0.0.1, port: {dovecot.port}, tls: false, user: "{user}",
       password: "{dovecot.PASSWORD}", account: support, start_from: all, poll_seconds: 1}}
""")
    await aiohttp_client(create_app(config, redis_url, data_dir, run_workers=False))

    async def both() -> bool:
        return len(ingested(r, prefix)) == 2
    await eventually(both)
    by_id = {m.external_id: m.sender_auth for m in ingested(r, prefix)}
    trusted, untrusted = by_id["imap-0@example.org"], by_id["imap-1@example.org"]
    assert trusted is not None and trusted.verified
    assert trusted.method == "authentication-results"
    assert untrusted is not None and not untrusted.verified
