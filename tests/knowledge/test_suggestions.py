"""Suggestions for a ticket over real HTTP and Redis: a ticket resolved with a reply while the
gateway runs is suggested for a similar new ticket (the index follows the audit stream), with
the resolving reply masked (no phone, no email) and why it matched; only resolved tickets the
caller could open are suggested; another team's manager gets 403; published articles in the
ticket's language come first, agents-only ones included and labelled, drafts never."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis

from deskgate.models.enums import Role
from deskgate.models.ticket import Agent
from deskgate.queue.keys import Keys
from deskgate.queue.work import Work
from tests.outbound.conftest import Tickets, email_message
from tests.work.conftest import triage

QUESTION = "订单 A20261202 三天了还没发货，什么时候能发？"
REPLY = "李雷您好，订单已于今天发出，运单号 SF1234567890123。有问题请拨打 13800138000 或写信给 li.lei@example.cn"


async def resolved(client: Any, tickets: Tickets, headers: dict[str, str], *, skill: str,
                   holder: str, text: str, reply: str, subject: str = "") -> str:
    tid = await tickets.open(email_message(subject=subject, text=text), skill=skill,
                             holder=holder, triaged=triage(language="zh"))
    resp = await client.post(f"/api/v1/tickets/{tid}/replies", headers=headers,
                             json={"text": reply})
    assert resp.status == 201, await resp.text()
    resp = await client.post(f"/api/v1/tickets/{tid}/resolve", headers=headers, json={})
    assert resp.status == 200, await resp.text()
    return tid


async def test_suggestions_follow_resolves_mask_and_respect_scope(
        client: Any, kb: Any, aclient: aioredis.Redis, keys: Keys,
        auth: Callable[..., dict[str, str]],
        eventually: Callable[..., Awaitable[Any]]) -> None:
    work = Work(aclient, keys)
    for agent, skill, team in (("alpha-agent", "alpha", "team-alpha"),
                               ("bravo-agent", "bravo", "team-bravo")):
        await work.put_agent(Agent(id=agent, skills={skill: 1}, capacity=50, team=team))
    tickets = Tickets(aclient, keys)
    alpha, bravo = auth(Role.AGENT, "alpha-agent"), auth(Role.AGENT, "bravo-agent")
    admin = auth(Role.ADMIN)
    for aid, body in (("ship-zh", {"title": "发货时间说明", "locale": "zh", "status": "published",
                                   "body": "付款后48小时内发货，节假日顺延。查询订单物流请在订单页查看。"}),
                      ("ship-en", {"title": "When do orders ship?", "locale": "en",
                                   "status": "published", "audience": "public",
                                   "body": "订单 发货 Orders ship within 48 hours of payment."}),
                      ("ship-draft", {"title": "发货 草稿", "locale": "zh", "status": "draft",
                                      "body": "订单 发货 还没发"})):
        assert (await client.put(f"/api/v1/articles/{aid}", headers=admin,
                                 json=body)).status == 200

    old = await resolved(client, tickets, alpha, skill="alpha", holder="alpha-agent",
                         text=QUESTION, reply=REPLY, subject="催发货")
    other_team = await resolved(client, tickets, bravo, skill="bravo", holder="bravo-agent",
                                text=QUESTION, reply="bravo 团队的回复")
    await resolved(client, tickets, alpha, skill="alpha", holder="alpha-agent",
                   text="耳机坏了，我要退款", reply="已为您办理退款")
    new = await tickets.open(email_message(subject="", text="订单 A20261202 怎么还没发货？"),
                             skill="alpha", holder="alpha-agent", triaged=triage(language="zh"))
    url = f"/api/v1/tickets/{new}/suggestions"

    async def indexed() -> bool:
        return len(kb.places) == 3
    await eventually(indexed)
    body = await (await client.get(url, headers=alpha)).json()
    first = body["tickets"][0]
    assert first["id"] == old and first["subject"] == "催发货"
    assert [t["id"] for t in body["tickets"]] == [old]           # bravo's is not alpha's to see
    assert "13800138000" not in first["reply"] and "li.lei@example.cn" not in first["reply"]
    assert "[phone]" in first["reply"] and "[email]" in first["reply"]
    assert "李雷" not in first["reply"] and first["reply"].startswith("[customer]您好")
    assert "SF1234567890123" in first["reply"]                    # not contact data: kept
    assert "A20261202" in first["why"]["entities"] and "发货" in first["why"]["terms"]
    assert first["score"] > 0
    # articles: published only, the ticket's language (zh) first; agents-only ones (ship-zh:
    # no audience given) are suggested to agents too, labelled
    assert [(a["id"], a["audience"]) for a in body["articles"]] == [("ship-zh", "agents"),
                                                                    ("ship-en", "public")]
    assert body["articles"][0]["body"].startswith("付款后") and body["articles"][0]["why"]["terms"]

    everyone = await (await client.get(url, headers=auth(Role.MANAGER))).json()
    assert {t["id"] for t in everyone["tickets"]} == {old, other_team}
    lead = await (await client.get(url, headers=auth(Role.MANAGER, "alpha-lead"))).json()
    assert [t["id"] for t in lead["tickets"]] == [old]
    denied = await client.get(url, headers=auth(Role.MANAGER, "bravo-lead"))
    assert denied.status == 403
    assert (await client.get(url, headers=bravo)).status == 403
    assert (await client.get(url)).status == 401


async def test_a_new_gateway_rebuilds_from_redis(
        client: Any, kb: Any, aclient: aioredis.Redis, keys: Keys, aiohttp_client: Any,
        config: Any, redis_url: str, data_dir: Any, auth: Callable[..., dict[str, str]],
        eventually: Callable[..., Awaitable[Any]]) -> None:
    from deskgate.gateway.knowledge import KNOWLEDGE
    from deskgate.gateway.web.app import create_app

    await Work(aclient, keys).put_agent(Agent(id="ann", skills={"alpha": 1}, capacity=50))
    tickets = Tickets(aclient, keys)
    ann = auth(Role.AGENT, "ann")
    old = await resolved(client, tickets, ann, skill="alpha", holder="ann", text=QUESTION,
                         reply="已发货")

    async def recorded() -> bool:
        return old in kb.places
    await eventually(recorded)
    second = await aiohttp_client(create_app(config, redis_url, data_dir, run_workers=False))
    kb2 = second.server.app[KNOWLEDGE]

    async def built() -> bool:
        return kb2.ready and old in kb2.places
    await eventually(built)
    new = await tickets.open(email_message(text="订单还没发货"), skill="alpha", holder="ann",
                             triaged=triage(language="zh"))
    body = await (await second.get(f"/api/v1/tickets/{new}/suggestions", headers=ann)).json()
    assert [t["id"] for t in body["tickets"]] == [old]
    assert body["tickets"][0]["reply"] == "已发货"
    # one record per resolve, however many gateways follow the audit stream
    assert await aclient.xlen(keys.kb_solved) == 1
