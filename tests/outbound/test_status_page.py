"""The customer's status page over real HTTP and Redis: a signed link shows one ticket's status
in the customer's words and its public thread (messages, replies with delivery state) in the
ticket's language, and nothing internal; tampered, foreign-purpose and expired links get a
page saying what to do; views are limited per address; long threads are cut to the latest
entries; the acknowledgement and the {status_link} macro variable carry working links."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis.asyncio as aioredis

from deskgate.gateway.config import Config, parse_config
from deskgate.gateway.web.app import create_app
from deskgate.gateway.web.ticket_status import TEXT
from deskgate.models import status
from deskgate.models.csat import sign as csat_sign
from deskgate.models.enums import Channel, Role
from deskgate.models.outbound import DeliveryState
from deskgate.queue.deployment_secret import deployment_secret
from deskgate.queue.keys import Keys
from deskgate.queue.status import VIEWS_PER_WINDOW, StatusLinks
from deskgate.queue.tickets import Placement
from tests.email.dnszone import DnsStandIn
from tests.work.conftest import triage

from .conftest import Tickets, chat_message, email_message, relay_config
from .relay import Relay

NOTE = "内部备注：此客户曾威胁投诉，谨慎处理"


async def link(aclient: aioredis.Redis, keys: Keys, tid: str) -> str:
    return f"/status/{await StatusLinks(aclient, keys).token(tid, time.time())}"


def test_every_stage_and_delivery_state_has_words_in_both_languages() -> None:
    needed = {s.value for s in status.Stage} | {s.value for s in DeliveryState}
    for lang, words in TEXT.items():
        assert needed <= set(words), lang
    assert set(TEXT["zh"]) == set(TEXT["en"])


async def test_page_shows_status_and_public_thread_but_nothing_internal(
        client: Any, tickets: Tickets, auth: Callable[..., dict[str, str]],
        aclient: aioredis.Redis, keys: Keys) -> None:
    tid = await tickets.open(email_message(text="我的订单 A1234 还没发货 <script>x</script>"),
                             triaged=triage(topic="shipping", high_risk=True))
    other = await tickets.open(email_message("wang@example.cn", text="另一位客户的秘密"))
    ann = auth(Role.AGENT, "ann")
    assert (await client.post(f"/api/v1/tickets/{tid}/notes", headers=ann,
                              json={"text": NOTE})).status == 201
    assert (await client.post(f"/api/v1/tickets/{tid}/replies", headers=ann,
                              json={"text": "您好，已为您催促仓库发货"})).status == 201
    resp = await client.get(await link(aclient, keys, tid))
    assert resp.status == 200
    page = await resp.text()
    assert f"您的工单 {tid}" in page and 'data-stage="handling"' in page
    assert "我的订单 A1234 还没发货 &lt;script&gt;" in page       # escaped, never HTML
    assert "已为您催促仓库发货" in page and 'data-state="queued"' in page
    for internal in (NOTE, "ann", "shipping", "legal", "threatens", "另一位客户的秘密", other):
        assert internal not in page, internal
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert resp.headers["Cache-Control"] == "no-store"
    assert "script-src" not in resp.headers["Content-Security-Policy"]
    # the switch: the same page in English
    english = await (await client.get(await link(aclient, keys, tid) + "?lang=en")).text()
    assert "Being handled" in english and "Customer service" in english
    # waiting for the customer, then resolved
    assert (await client.post(f"/api/v1/tickets/{tid}/pending", headers=ann)).status == 200
    page = await (await client.get(await link(aclient, keys, tid))).text()
    assert 'data-stage="waiting"' in page and "等待您的回复" in page
    assert (await client.post(f"/api/v1/tickets/{tid}/resolve", headers=ann,
                              json={})).status == 200
    page = await (await client.get(await link(aclient, keys, tid))).text()
    assert 'data-stage="resolved"' in page


async def test_a_new_ticket_is_received_in_english_when_the_customer_wrote_english(
        client: Any, tickets: Tickets, aclient: aioredis.Redis, keys: Keys) -> None:
    tid = await tickets.open(chat_message(Channel.WEBCHAT, "v-1", account="site"),
                             holder="", triaged=triage(language="en"))
    page = await (await client.get(await link(aclient, keys, tid))).text()
    assert 'data-stage="received"' in page and f"Your request {tid}" in page
    assert 'lang="en"' in page and "中文" in page


async def test_bad_links_get_a_page_that_says_what_to_do(
        client: Any, tickets: Tickets, aclient: aioredis.Redis, keys: Keys) -> None:
    tid = await tickets.open(email_message())
    good = await link(aclient, keys, tid)
    token = good.removeprefix("/status/")
    other = str(int(tid.removeprefix("DG-")) + 1)
    secret = await deployment_secret(aclient, keys.status_secret)
    for bad in (token[:-1] + ("A" if token[-1] != "A" else "B"),     # tampered MAC
                token.replace(tid, f"DG-{other}"),                 # another ticket, same MAC
                csat_sign(tid, int(time.time()) + 600,
                          await deployment_secret(aclient, keys.csat_secret)),   # a survey link
                "x" * 5000, "DG-1"):
        resp = await client.get(f"/status/{bad}", headers={"Accept-Language": "zh-CN"})
        assert resp.status == 403, bad
        assert "此链接无效" in await resp.text()
    expired = status.sign(tid, int(time.time()) - 1, secret)
    resp = await client.get(f"/status/{expired}", headers={"Accept-Language": "en"})
    assert resp.status == 410 and "has expired" in await resp.text()
    gone = status.sign("DG-999999", int(time.time()) + 60, secret)
    assert (await client.get(f"/status/{gone}")).status == 404


async def test_views_are_limited_per_address(client: Any, tickets: Tickets,
                                             aclient: aioredis.Redis, keys: Keys) -> None:
    tid = await tickets.open(email_message())
    url = await link(aclient, keys, tid)
    for _ in range(VIEWS_PER_WINDOW):
        assert (await client.get(url)).status == 200
    resp = await client.get(url)
    assert resp.status == 429 and int(resp.headers["Retry-After"]) > 0
    # guesses count too: a script cannot try links past the limit
    assert (await client.get("/status/DG-1.1234567890.x")).status == 429


async def test_a_long_thread_shows_its_latest_entries(
        client: Any, tickets: Tickets, auth: Callable[..., dict[str, str]],
        aclient: aioredis.Redis, keys: Keys) -> None:
    def said(n: int) -> Any:
        return msgspec.structs.replace(
            chat_message(Channel.WEBCHAT, "v-long", account="site", at=time.time() + n),
            text=f"第 {n} 条")

    tid = await tickets.open(said(0))
    for n in range(1, status.MAX_ENTRIES + 10):
        msg = said(n)
        [ctx] = await tickets.store.resolve_customers([msg], time.time())
        [applied] = await tickets.store.apply(
            [Placement(msg, ctx.customer_id, triage(), "general", 0.0)], time.time())
        assert applied.ticket_id == tid
    page = await (await client.get(await link(aclient, keys, tid))).text()
    shown = re.findall(r"第 (\d+) 条", page)
    assert len(shown) == status.MAX_ENTRIES and shown[-1] == str(status.MAX_ENTRIES + 9)
    assert "更早的消息未在此显示" in page


@pytest.fixture
def config(prefix: str, relay: tuple[Relay, Path], dns: DnsStandIn) -> Config:
    return parse_config(relay_config(prefix, relay[0], relay[1], dns) + """
http: {public_url: "https://help.shop.example.cn/"}
channels:
  webchat:
    site: {secret: site-secret-0123456789abcdef}
sla:
  sla:
    - {name: all, first_response_minutes: 120, resolution_minutes: 1440, business_hours: false}
auto_ack: {enabled: true}
""")


async def test_acknowledgement_and_macro_carry_a_working_link(
        aiohttp_client: Any, config: Config, redis_url: str, data_dir: Path,
        tickets: Tickets, auth: Callable[..., dict[str, str]], aclient: aioredis.Redis,
        keys: Keys, eventually: Callable[..., Any]) -> None:
    from .test_auto_ack import all_replies, chat

    client = await aiohttp_client(create_app(config, redis_url, data_dir, run_workers=True))
    await chat(client, "site", 1, "li@example.cn")
    [(tid, ack)] = await eventually(lambda: all_replies(aclient, keys))
    found = re.search(r"随时查看处理进度：https://help\.shop\.example\.cn(/status/\S+)$",
                      ack.message.text)
    assert found, ack.message.text
    page = await (await client.get(found[1])).text()
    assert f"您的工单 {tid}" in page and "我的订单 A12345678 还没有发货" in page
    # an agent's macro names {status_link}: the reply carries a link to the same page
    assert (await client.put("/api/v1/macros/progress", headers=auth(Role.ADMIN), json={
        "title": "进度", "zh": "您可以在这里查看进度：{status_link}"})).status == 200
    ann = auth(Role.AGENT, "ann")
    await tickets.work.act("transfer_agent", tid, "setup", privileged=True, arg="ann")
    preview = await (await client.get(f"/api/v1/tickets/{tid}/macros/progress",
                                      headers=ann)).json()
    url = preview["text"].removeprefix("您可以在这里查看进度：")
    assert url.startswith("https://help.shop.example.cn/status/DG-"), preview
    assert (await client.get(url.removeprefix("https://help.shop.example.cn"))).status == 200
