"""Reply files end to end, over the real API, outbox, sender worker and Redis: a Twilio
stand-in that, like Twilio, FETCHES each MediaUrl from the gateway's signed public link and
checks the bytes; the link's rules (one file of one reply, unforgeable, expiring, served as a
download); and voicemail answered by SMS through the number's Twilio account, or failed with
what to configure."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp import web

from deskgate.gateway.config import Config, parse_config
from deskgate.gateway.web.app import create_app
from deskgate.models.enums import Channel, IdentityKind, Role
from deskgate.models.file_links import sign
from deskgate.models.message import Identity, InboundMessage, Sender
from deskgate.queue.keys import Keys
from deskgate.queue.outbox import Outbox
from deskgate.queue.reply_parts import ReplyParts
from tests.email.dnszone import DnsStandIn
from tests.send.conftest import doc

from .conftest import Tickets, chat_message, relay_config
from .relay import Relay

SID, AUTH = "AC" + "1" * 32, "a" * 32
TWILIO = doc("twilio", "media.json")
PNG = b"\x89PNG\r\n\x1a\n" + b"x" * 500


class TwilioStandIn:
    """Twilio's Messages API: checks Basic auth and the documented fields, and fetches every
    MediaUrl as Twilio does before it answers."""

    def __init__(self) -> None:
        self.sent: list[dict[str, list[str]]] = []
        self.fetched: list[tuple[int, str, str, bytes]] = []
        self.app = web.Application()
        self.app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self.create)

    async def create(self, request: web.Request) -> web.Response:
        if request.match_info["sid"] != SID or \
                request.headers.get("Authorization") != aiohttp.encode_basic_auth(SID, AUTH):
            return web.json_response(doc("twilio", "messages.json")["auth_failed"], status=401)
        form = await request.post()
        if not set(form) <= set(TWILIO["fields"]):
            return web.json_response({"code": 21000, "message": f"fields {sorted(form)}"},
                                     status=400)
        async with aiohttp.ClientSession() as http:
            for url in form.getall("MediaUrl", []):
                async with http.get(str(url)) as resp:
                    self.fetched.append((resp.status, resp.headers.get("Content-Type", ""),
                                         resp.headers.get("Content-Disposition", ""),
                                         await resp.read()))
        self.sent.append({k: [str(v) for v in form.getall(k)] for k in set(form)})
        return web.json_response(doc("twilio", "messages.json")["created"] |
                                 {"sid": f"MM{len(self.sent):032d}"}, status=201)


@pytest.fixture
async def twilio(aiohttp_server: Any) -> AsyncIterator[tuple[TwilioStandIn, str]]:
    s = TwilioStandIn()
    server = await aiohttp_server(s.app)
    yield s, str(server.make_url("")).rstrip("/")


@pytest.fixture
def gateway_port(free_port: Callable[[], int]) -> int:
    return free_port()


@pytest.fixture
def config(prefix: str, relay: tuple[Relay, Path], dns: DnsStandIn,
           twilio: tuple[TwilioStandIn, str], gateway_port: int) -> Config:
    return parse_config(relay_config(prefix, relay[0], relay[1], dns) + f"""
http: {{public_url: "http://127.0.0.1:{gateway_port}"}}
channels:
  twilio:
    sms: {{auth_token: {AUTH}, account_sid: {SID}, from_number: "+15557122661",
          api_base: "{twilio[1]}"}}
    whatsapp-only: {{auth_token: {AUTH}, account_sid: {SID}, api_base: "{twilio[1]}"}}
  voice:
    hotline: {{auth_token: {AUTH}, account_sid: {SID}, sms_account: sms}}
    unlinked: {{auth_token: {AUTH}, account_sid: {SID}}}
    no-sms: {{auth_token: {AUTH}, account_sid: {SID}, sms_account: whatsapp-only}}
""")


@pytest.fixture
async def gateway(aiohttp_server: Any, aiohttp_client: Any, config: Config, redis_url: str,
                  data_dir: Path, gateway_port: int) -> Any:
    server = await aiohttp_server(create_app(config, redis_url, data_dir, run_workers=False),
                                  port=gateway_port)
    return await aiohttp_client(server)


def voicemail(account: str, caller: str = "+8613800138000") -> InboundMessage:
    return InboundMessage(
        channel=Channel.VOICE, account=account, external_id=f"recording:RE{time.time_ns()}",
        sender=Sender((Identity(IdentityKind.PHONE, caller),)),
        received_at=datetime.now(UTC), text="[voicemail / 语音留言 23 s]",
        thread_key=f"CA{time.time_ns()}")


async def upload(gateway: Any, h: dict[str, str], tid: str, data: bytes, name: str,
                 ctype: str) -> str:
    resp = await gateway.post(f"/api/v1/tickets/{tid}/files?name={name}", headers=h | {
        "Content-Type": ctype}, data=data)
    assert resp.status == 201, await resp.text()
    return str((await resp.json())["ref"])


async def post_reply(gateway: Any, h: dict[str, str], tid: str, body: dict[str, Any]) -> str:
    resp = await gateway.post(f"/api/v1/tickets/{tid}/replies", headers=h, json=body)
    assert resp.status == 201, await resp.text()
    return str((await resp.json())["id"])


async def settled(eventually: Callable[..., Any], aclient: aioredis.Redis, keys: Keys,
                  reply_id: str) -> Any:
    async def done() -> Any:
        r = await Outbox(aclient, keys).get(reply_id)
        return r if r is not None and r.state.value in ("sent", "failed") else None
    return await eventually(done)


async def test_voicemail_is_answered_by_sms_with_the_file_fetched_from_the_signed_link(
        gateway: Any, senders: None, tickets: Tickets, auth: Callable[..., dict[str, str]],
        twilio: tuple[TwilioStandIn, str], aclient: aioredis.Redis, keys: Keys,
        eventually: Callable[..., Any]) -> None:
    tid = await tickets.open(voicemail("hotline"))
    h = auth(Role.AGENT, "ann")
    ref = await upload(gateway, h, tid, PNG, "面单.png", "image/png")
    rid = await post_reply(gateway, h, tid, {"text": "您好，已收到您的留言", "attachments": [
        {"ref": ref, "name": "面单.png", "content_type": "image/png"}]})
    r = await settled(eventually, aclient, keys, rid)
    assert r.state.value == "sent", r.reason
    [sms] = twilio[0].sent
    assert sms["To"] == ["+8613800138000"] and sms["From"] == ["+15557122661"]
    assert sms["Body"] == ["您好，已收到您的留言"]
    [(status, ctype, disposition, body)] = twilio[0].fetched
    assert (status, ctype, body) == (200, "image/png", PNG)
    assert disposition.startswith("attachment;") and "%E9%9D%A2%E5%8D%95.png" in disposition


@pytest.mark.parametrize(("account", "says"), [
    ("unlinked", "there is no channels.twilio.unlinked: add it with account_sid, auth_token "
                 "and from_number"),
    ("no-sms", "the Twilio account 'whatsapp-only' is not set up for SMS: set its account_sid "
               "and from_number")])
async def test_voicemail_without_an_sms_number_fails_saying_what_to_configure(
        gateway: Any, senders: None, tickets: Tickets, auth: Callable[..., dict[str, str]],
        twilio: tuple[TwilioStandIn, str], aclient: aioredis.Redis, keys: Keys,
        eventually: Callable[..., Any], account: str, says: str) -> None:
    tid = await tickets.open(voicemail(account))
    rid = await post_reply(gateway, auth(Role.AGENT, "ann"), tid, {"text": "您好"})
    r = await settled(eventually, aclient, keys, rid)
    assert r.state.value == "failed" and says in r.reason
    assert twilio[0].sent == []


async def test_a_file_link_serves_one_file_of_one_reply_until_it_expires(
        gateway: Any, tickets: Tickets, auth: Callable[..., dict[str, str]],
        aclient: aioredis.Redis, keys: Keys) -> None:
    tid = await tickets.open(chat_message(Channel.LINE, "U4af4980629a1b2c3d4e5f60718293a4b"))
    h = auth(Role.AGENT, "ann")
    ref = await upload(gateway, h, tid, PNG, "a.png", "image/png")
    other = await upload(gateway, h, tid, PNG + b"other", "b.png", "image/png")
    rid = await post_reply(gateway, h, tid, {"attachments": [
        {"ref": ref, "name": "a.png", "content_type": "image/png"}]})
    secret = await ReplyParts(aclient, keys).link_secret()
    later = int(time.time()) + 600
    good = sign(ref, rid, 0, later, secret)
    resp = await gateway.get(f"/files/{good}")
    assert resp.status == 200 and await resp.read() == PNG
    assert resp.headers["Content-Type"] == "image/png"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Content-Disposition"].startswith("attachment;")
    assert "sandbox" in resp.headers["Content-Security-Policy"]
    mac = good.rsplit(".", 1)[1]
    refused = {
        "another file under this reply's signature": sign(other, rid, 0, later, secret),
        "a later expiry": f"{rid}.0.{later + 1}.{mac}",
        "expired": sign(ref, rid, 0, int(time.time()) - 1, secret),
        "another secret": sign(ref, rid, 0, later, b"guess"),
        "not a token": "../../etc/passwd"}
    for why, token in refused.items():
        bad = await gateway.get(f"/files/{token}")
        assert bad.status in (403, 404), why
        assert await bad.read() != PNG, why
    assert (await gateway.get(f"/files/{sign(ref, rid, 1, later, secret)}")).status == 404
    assert (await gateway.get(f"/files/{sign(ref, 'r_' + '0' * 24, 0, later, secret)}")
            ).status == 404
