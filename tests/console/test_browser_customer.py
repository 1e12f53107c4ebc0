"""What a customer sees, in Debian's Chromium at a phone's size (375x812) against the real app
(triage worker in-process, a sender worker beside it):

- the status page behind the signed link an agent's {status_link} macro gives: the status and
  the thread in Chinese, an internal note the test wrote nowhere on it, English one tap away;
- the visitor chat widget embedded with one <script> tag in a page served from another origin
  (an allowed one): the visitor writes, it becomes a ticket, an agent answers over the API, the
  sender worker delivers, the visitor sees the answer in the widget, and it is marked read;
- the widget's FAQ step: an admin publishes an article, a visitor's first message shows it
  (title, snippet, the article as text on request); "这解决了我的问题" sends nothing and counts
  solved, another visitor's "我仍需要帮助" sends the message, which becomes a ticket."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web

from deskgate.connectors.webchat import visitor_token
from deskgate.gateway.config import Config, SenderConfig, WorkerConfig
from deskgate.models.enums import Role

pytestmark = pytest.mark.browser

SECRET = "site-secret-0123456789abcdef"
NOTE = "内部备注：客户语气激动，注意安抚（仅内部可见）"
PHONE = {"width": 375, "height": 812, "locale": "zh-CN"}
SKILLS = ["billing", "logistics", "tech", "care", "general", "triage"]


@pytest.fixture
def page_port(free_port: Callable[[], int]) -> int:
    return free_port()


@pytest.fixture
def config(prefix: str, page_port: int) -> Config:
    return Config(
        redis_prefix=prefix,
        workers=WorkerConfig(block_ms=50, claim_idle_ms=500, lease_seconds=600),
        senders=SenderConfig(block_ms=50, claim_idle_ms=500),
        channels={"webchat": {"site": {"secret": SECRET,
                                       "allowed_origins": [f"http://127.0.0.1:{page_port}"]}}})


async def _claimed_by_ann(api: Any, token: Any, ticket_id: str) -> dict[str, str]:
    await api.call("PUT", "/api/v1/agents/ann", Role.ADMIN, {"skills": SKILLS, "capacity": 3})
    ann = {"Authorization": f"Bearer {token(Role.AGENT, 'ann')}"}
    async with api.http.post(f"{api.base}/api/v1/agents/ann/claim", headers=ann) as resp:
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["ticket"]["id"] == ticket_id
    return ann


async def test_status_page_on_a_phone_in_chinese_without_internal_notes(
        browser: Any, api: Any, token: Any) -> None:
    from playwright.async_api import expect

    await api.message("st1", "我上周买的电饭煲 DD20261118004521 还没有发货，请帮我查一下",
                      name="李雷")
    [tk] = await api.wait_tickets(1)
    ann = await _claimed_by_ann(api, token, tk["id"])
    base = f"{api.base}/api/v1/tickets/{tk['id']}"
    async with api.http.post(f"{base}/notes", headers=ann, json={"text": NOTE}) as resp:
        assert resp.status == 201
    await api.call("PUT", "/api/v1/macros/progress", Role.ADMIN, {
        "title": "进度", "zh": "已为您加急处理，进度请看：{status_link}",
        "en": "We are on it; follow it here: {status_link}"})
    async with api.http.post(f"{base}/replies", headers=ann,
                             json={"macro": "progress"}) as resp:
        assert resp.status == 201, await resp.text()
        reply = (await resp.json())["text"]
    url = reply.split("：", 1)[1]
    assert url.startswith(f"{api.base}/status/{tk['id']}.")

    b = await browser(**PHONE)
    await b.page.goto(url)
    await expect(b.page.locator("h1")).to_have_text(f"您的工单 {tk['id']}")
    await expect(b.page.locator("#stage")).to_have_text("处理中")
    entries = b.page.locator("#thread li.entry")
    await expect(entries).to_have_count(2)
    await expect(entries.nth(0)).to_contain_text("电饭煲 DD20261118004521 还没有发货")
    await expect(entries.nth(0)).to_contain_text("您")
    await expect(entries.nth(1)).to_contain_text("已为您加急处理")
    await expect(entries.nth(1)).to_contain_text("客服")
    text = await b.page.locator("body").inner_text()
    assert NOTE not in text and "ann" not in text and "DD20261118004521" in text
    assert NOTE not in await b.page.content()
    # made for the phone: nothing wider than the screen
    assert await b.page.evaluate("document.documentElement.scrollWidth") <= 375
    await b.shot("customer-status-zh")
    await b.page.click("a.lang")
    await expect(b.page.locator("#stage")).to_have_text("Being handled")
    await b.shot("customer-status-en")
    await b.page.goto(url[:-2] + ("AA" if not url.endswith("AA") else "BB"))
    await expect(b.page.locator("#notice")).to_contain_text("此链接无效")


@pytest.fixture
async def shop(page_port: int, server: str) -> AsyncIterator[str]:
    """The customer's own site, on another origin, embedding the widget with one tag; its
    signed-in member is member-42, or the one ?visitor= names."""
    async def index(request: web.Request) -> web.Response:
        visitor = request.query.get("visitor", "member-42")
        signed = visitor_token(SECRET, "site", visitor, int(time.time()) + 3600)
        return web.Response(content_type="text/html", text=(
            '<!doctype html><html lang="zh"><head><meta charset="utf-8"><meta name="viewport" '
            'content="width=device-width, initial-scale=1"><title>小店</title></head>'
            "<body><h1>小店</h1><p>欢迎光临</p>"
            f'<script src="{server}/webchat/widget.js" data-account="site" '
            f'data-visitor-token="{signed}" data-lang="zh" async></script></body></html>'))

    app = web.Application()
    app.router.add_get("/", index)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", page_port).start()
    yield f"http://127.0.0.1:{page_port}/"
    await runner.cleanup()


async def test_visitor_chats_through_the_widget_and_sees_the_agents_answer(
        browser: Any, api: Any, token: Any, shop: str, senders: None) -> None:
    from playwright.async_api import expect

    b = await browser(**PHONE)
    await b.page.goto(shop)
    await b.page.click("button.launcher")
    panel = b.page.locator("section.panel")
    await expect(panel).to_be_visible()
    await b.page.fill("section.panel textarea", "你好，我的订单 DD20261118009999 什么时候发货？")
    await b.page.press("section.panel textarea", "Enter")
    mine = b.page.locator("li.entry.me")
    await expect(mine).to_have_count(1)
    await expect(mine.locator(".state")).to_have_count(0)       # sent, not "发送中"

    [tk] = await api.wait_tickets(1)
    assert tk["channel"] == "webchat"
    ann = await _claimed_by_ann(api, token, tk["id"])
    full = await api.call("GET", f"/api/v1/tickets/{tk['id']}", Role.ADMIN)
    assert [m["text"] for m in full["messages"]] == ["你好，我的订单 DD20261118009999 什么时候发货？"]
    async with api.http.post(f"{api.base}/api/v1/tickets/{tk['id']}/replies", headers=ann,
                             json={"text": "您好，已经发货了 <b>请放心</b>"}) as resp:
        assert resp.status == 201, await resp.text()
        rid = (await resp.json())["id"]

    ours = b.page.locator("li.entry.us:not(.greeting)")
    await expect(ours).to_have_count(1)
    await expect(ours.locator(".text")).to_have_text("您好，已经发货了 <b>请放心</b>")
    assert await b.page.locator("section.panel b").count() == 0
    assert await b.page.evaluate("document.documentElement.scrollWidth") <= 375
    await b.shot("visitor-widget-zh")

    async def state() -> str:
        replies = await api.call("GET", f"/api/v1/tickets/{tk['id']}/replies", Role.ADMIN)
        return next(r["state"] for r in replies["replies"] if r["id"] == rid)

    for _ in range(200):
        if await state() == "read":
            break
        await asyncio.sleep(0.05)
    assert await state() == "read"
    # a reload keeps the conversation, and the same message is not sent again
    await b.page.reload()
    await b.page.click("button.launcher")
    await expect(b.page.locator("li.entry.me")).to_have_count(1)
    await expect(ours).to_have_count(1)
    full = await api.call("GET", f"/api/v1/tickets/{tk['id']}", Role.ADMIN)
    assert len(full["messages"]) == 1


ARTICLE = {"title": "如何申请退货", "locale": "zh", "status": "published", "audience": "public",
           "body": "收到商品七天内可申请退货：\n1. 打开订单页\n2. 点击「申请退货」"
                   "<img src=x onerror=alert(1)>"}
QUESTION = "我想退货，怎么申请？"


async def _faq_counts(api: Any, wanted: dict[str, int]) -> None:
    """Feedback is sent without the visitor waiting for it: wait for the counter."""
    for _ in range(200):
        got = (await api.call("GET", "/api/v1/articles/returns", Role.MANAGER))["faq"]
        if got == wanted:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"FAQ counts {got}, expected {wanted}")


async def _ask(browser: Any, shop: str, visitor: str) -> tuple[Any, Any]:
    from playwright.async_api import expect

    b = await browser(**PHONE)
    await b.page.goto(f"{shop}?visitor={visitor}")
    await b.page.click("button.launcher")
    await b.page.fill("section.panel textarea", QUESTION)
    await b.page.press("section.panel textarea", "Enter")
    found = b.page.locator("section.panel .faq-article")
    await expect(found).to_have_count(1)
    await expect(found.locator(".faq-title")).to_have_text("如何申请退货")
    await expect(found.locator(".faq-snippet")).to_contain_text("退货")
    return b, found


async def test_widget_answers_from_the_faq_before_a_ticket_is_opened(
        browser: Any, api: Any, shop: str) -> None:
    from playwright.async_api import expect

    await api.call("PUT", "/api/v1/articles/returns", Role.ADMIN, ARTICLE)
    for _ in range(200):      # the search index takes the article at its first build
        if (await api.call("GET", "/api/v1/articles?q=退货", Role.ADMIN))["articles"]:
            break
        await asyncio.sleep(0.05)

    b, found = await _ask(browser, shop, "member-7")
    await found.locator("button.faq-read").click()
    body = found.locator(".faq-body")
    await expect(body).to_contain_text("打开订单页")
    assert await body.evaluate("e => e.textContent") == ARTICLE["body"]   # text, not HTML
    assert await b.page.locator("section.panel img").count() == 0
    assert await b.page.evaluate("document.documentElement.scrollWidth") <= 375
    await b.shot("visitor-widget-faq-zh")
    await found.locator("button.faq-solved").click()
    await expect(b.page.locator("section.panel .notice")).to_contain_text("很高兴帮到您")
    await expect(found).to_have_count(0)
    await expect(b.page.locator("li.entry.me")).to_have_count(0)
    await _faq_counts(api, {"shown": 1, "solved": 1, "unsolved": 0})
    assert (await api.call("GET", "/api/v1/tickets", Role.ADMIN))["tickets"] == []

    b, found = await _ask(browser, shop, "member-8")
    await b.page.click("section.panel button.faq-help")
    await expect(found).to_have_count(0)
    mine = b.page.locator("li.entry.me")
    await expect(mine).to_have_count(1)
    await expect(mine.locator(".state")).to_have_count(0)       # sent
    [tk] = await api.wait_tickets(1)
    assert tk["channel"] == "webchat"
    full = await api.call("GET", f"/api/v1/tickets/{tk['id']}", Role.ADMIN)
    assert [m["text"] for m in full["messages"]] == [QUESTION]
    await _faq_counts(api, {"shown": 2, "solved": 1, "unsolved": 1})
