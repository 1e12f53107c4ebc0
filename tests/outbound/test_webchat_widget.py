"""The visitor widget's endpoints over real HTTP and Redis, as a hostile outsider would try
them: a visitor token opens one visitor of one account (tampered, expired, too long-lived,
another account's: refused); only the account's allowed origins get CORS, any other origin (or
none) is refused; a retried send is one message; bodies and texts are bounded; visitor X never
reads or marks visitor Y's replies; anonymous visitors only where allowed, limited per address;
calls limited per visitor."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from deskgate.connectors.webchat import visitor_token
from deskgate.gateway.config import Config, parse_config
from deskgate.gateway.web.webchat_visitor import (
    CALLS_PER_WINDOW,
    MINTS_PER_WINDOW,
    SENDS_PER_WINDOW,
)
from deskgate.models.enums import Channel, Role
from deskgate.queue.keys import Keys
from deskgate.queue.outbox import Outbox
from tests.email.dnszone import DnsStandIn

from .conftest import Tickets, chat_message, relay_config
from .relay import Relay

SECRET = "site-secret-0123456789abcdef"
SHOP = "http://shop.example.cn"


@pytest.fixture
def config(prefix: str, relay: tuple[Relay, Path], dns: DnsStandIn) -> Config:
    return parse_config(relay_config(prefix, relay[0], relay[1], dns) + f"""
channels:
  webchat:
    site: {{secret: {SECRET}, allowed_origins: ["{SHOP}"], anonymous_visitors: true}}
    signed: {{secret: {SECRET}, allowed_origins: ["{SHOP}"]}}
""")


def token(visitor: str, account: str = "site", expires: float | None = None) -> str:
    return visitor_token(SECRET, account, visitor, int(expires or time.time() + 3600))


def h(tok: str, origin: str = SHOP) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}", "Origin": origin}


async def send(client: Any, tok: str, client_id: str, text: str = "你好，在吗？",
               account: str = "site", **kw: Any) -> Any:
    return await client.post(f"/webchat/{account}/visitor/messages", headers=h(tok, **kw),
                             json={"client_id": client_id, "text": text})


async def test_send_is_idempotent_and_cors_only_for_allowed_origins(
        client: Any, aclient: aioredis.Redis, keys: Keys) -> None:
    first = await send(client, token("v-1"), "c-0000001")
    assert first.status == 202, await first.text()
    assert first.headers["Access-Control-Allow-Origin"] == SHOP
    again = await send(client, token("v-1"), "c-0000001")
    assert again.status == 200 and (await again.json())["duplicate"] is True
    assert (await again.json())["id"] == (await first.json())["id"]
    assert await aclient.xlen(keys.ingest) == 1
    # the same client id from another visitor is that visitor's own message
    assert (await send(client, token("v-2"), "c-0000001")).status == 202
    # a site not listed, and no Origin at all: refused, and no CORS for the browser
    for origin in ("http://evil.example", "http://shop.example.cn.evil.example", ""):
        resp = await send(client, token("v-1"), "c-0000002", origin=origin)
        assert resp.status == 403, origin
        assert "Access-Control-Allow-Origin" not in resp.headers
    pre = await client.options("/webchat/site/visitor/messages", headers={
        "Origin": SHOP, "Access-Control-Request-Method": "POST"})
    assert pre.status == 204 and pre.headers["Access-Control-Allow-Origin"] == SHOP
    assert "Authorization" in pre.headers["Access-Control-Allow-Headers"]
    bad = await client.options("/webchat/site/visitor/messages", headers={
        "Origin": "http://evil.example", "Access-Control-Request-Method": "POST"})
    assert bad.status == 403 and "Access-Control-Allow-Origin" not in bad.headers
    assert (await client.options("/webchat/nosuch/visitors", headers={"Origin": SHOP})).status \
        == 404
    assert await aclient.xlen(keys.ingest) == 2


async def test_tokens_prove_one_visitor_of_one_account(client: Any) -> None:
    good = token("v-1")
    mac = good.rsplit(".", 1)[1]
    for bad, status in (
            ("", 401),
            (good[:-1] + ("0" if good[-1] != "0" else "1"), 403),          # tampered MAC
            (f"v-2.{good.split('.')[1]}.{mac}", 403),                     # another visitor
            (token("v-1", expires=time.time() - 5), 403),                  # expired
            (token("v-1", expires=time.time() + 40 * 86400), 403),         # lives too long
            (token("v-1", account="signed"), 403),                        # another account's
            (good + "." + "a" * 300, 403),                                # oversized
            ("v-1.12345.zz", 403)):
        resp = await send(client, bad, "c-0000009")
        assert resp.status == status, (bad, await resp.text())
        assert resp.headers["Access-Control-Allow-Origin"] == SHOP    # the widget can read why
        assert (await resp.json())["error"]["message"]


async def test_bodies_and_texts_are_bounded(client: Any) -> None:
    tok = token("v-1")
    resp = await send(client, tok, "c-0000003", text="长" * 4001)
    assert resp.status == 400 and "4000" in (await resp.json())["error"]["message"]
    huge = await client.post("/webchat/site/visitor/messages", headers=h(tok),
                             data=b'{"client_id":"c-0000004","text":"' + b"a" * 70000 + b'"}')
    assert huge.status == 413
    for body in ({"client_id": "x", "text": "hi"}, {"client_id": "c-0000005", "text": " "},
                 {"client_id": "c-0000006", "text": "hi", "admin": True}, [1]):
        resp = await client.post("/webchat/site/visitor/messages", headers=h(tok), json=body)
        assert resp.status == 400, body
    broken = await client.post("/webchat/site/visitor/messages", headers=h(tok), data=b"{")
    assert broken.status == 400


async def test_a_visitor_reads_and_marks_only_their_own_replies(
        client: Any, tickets: Tickets, senders: None, auth: Callable[..., dict[str, str]],
        aclient: aioredis.Redis, keys: Keys, eventually: Callable[..., Any]) -> None:
    tid = await tickets.open(chat_message(Channel.WEBCHAT, "v-x", account="site"))
    await tickets.open(chat_message(Channel.WEBCHAT, "v-y", account="site"))
    resp = await client.post(f"/api/v1/tickets/{tid}/replies", headers=auth(Role.AGENT, "ann"),
                             json={"text": "您好，X 的订单已发货"})
    rid = (await resp.json())["id"]
    box = Outbox(aclient, keys)

    async def sent() -> bool:
        r = await box.get(rid)
        return r is not None and r.state == "sent"

    await eventually(sent)
    other = await client.get("/webchat/site/visitor/replies?after=0", headers=h(token("v-y")))
    assert other.status == 200 and (await other.json())["replies"] == []
    foreign = await client.post(f"/webchat/site/visitor/replies/{rid}/read",
                                headers=h(token("v-y")))
    assert foreign.status == 404
    assert (await box.get(rid)).state == "sent"   # type: ignore[union-attr]
    # the same visitor id under another account is someone else
    assert (await (await client.get("/webchat/signed/visitor/replies?after=0", headers=h(
        token("v-x", account="signed")))).json())["replies"] == []
    mine = await (await client.get("/webchat/site/visitor/replies?after=0",
                                   headers=h(token("v-x")))).json()
    assert [r["text"] for r in mine["replies"]] == ["您好，X 的订单已发货"]
    assert (await box.get(rid)).state == "delivered"   # type: ignore[union-attr]
    later = await (await client.get(f"/webchat/site/visitor/replies?after={mine['cursor']}",
                                    headers=h(token("v-x")))).json()
    assert later["replies"] == []
    read = await client.post(f"/webchat/site/visitor/replies/{rid}/read", headers=h(token("v-x")))
    assert read.status == 200 and (await read.json())["state"] == "read"
    bad = await client.get("/webchat/site/visitor/replies?after=soon", headers=h(token("v-x")))
    assert bad.status == 400


async def test_anonymous_visitors_only_where_allowed_and_limited(client: Any) -> None:
    resp = await client.post("/webchat/site/visitors", headers={"Origin": SHOP})
    assert resp.status == 201
    minted = await resp.json()
    assert minted["visitor"].startswith("anon-")
    assert (await send(client, minted["token"], "c-0000007")).status == 202
    for _ in range(MINTS_PER_WINDOW - 1):
        assert (await client.post("/webchat/site/visitors", headers={"Origin": SHOP})).status \
            == 201
    limited = await client.post("/webchat/site/visitors", headers={"Origin": SHOP})
    assert limited.status == 429 and int(limited.headers["Retry-After"]) > 0
    closed = await client.post("/webchat/signed/visitors", headers={"Origin": SHOP})
    assert closed.status == 403 and "visitor token" in (await closed.json())["error"]["message"]


async def test_calls_and_messages_are_limited_per_visitor(client: Any) -> None:
    talker = token("v-talker")
    for n in range(SENDS_PER_WINDOW):
        assert (await send(client, talker, f"c-{n:07d}")).status == 202
    resp = await send(client, talker, "c-9999999")
    assert resp.status == 429 and int(resp.headers["Retry-After"]) > 0
    tok = token("v-busy")
    for _ in range(CALLS_PER_WINDOW):
        assert (await client.get("/webchat/site/visitor/replies", headers=h(tok))).status == 200
    resp = await client.get("/webchat/site/visitor/replies", headers=h(tok))
    assert resp.status == 429 and resp.headers["Access-Control-Allow-Origin"] == SHOP
    # another visitor is not held back
    assert (await client.get("/webchat/site/visitor/replies", headers=h(token("v-calm")))).status \
        == 200


async def test_the_widget_files_are_served(client: Any) -> None:
    js = await client.get("/webchat/widget.js")
    assert js.status == 200 and "javascript" in js.headers["Content-Type"]
    assert "beforeChat" in await js.text()
    css = await client.get("/webchat/widget.css")
    assert css.status == 200 and css.headers["Content-Type"].startswith("text/css")
    assert (await client.get("/webchat/widget.html")).status == 404


def test_allowed_origins_must_be_origins() -> None:
    from deskgate.connectors.base import SettingsError
    from deskgate.connectors.webchat import WebChatConnector

    for bad in ("https://shop.example.cn/", "shop.example.cn", "https://shop.example.cn/chat",
                "*"):
        with pytest.raises((SettingsError, ValueError)):
            WebChatConnector().settings({"secret": SECRET, "allowed_origins": [bad]})
