"""The knowledge base in Chromium: an admin writes an article whose Markdown preview is drawn
safely (bold as <strong>, an <img> tag shown as text, never an element), saves it and finds it
with the match marked; a new article is for agents only unless the admin picks "public", and
both its search hit and its suggestion say so; an agent on a ticket about returns sees it
suggested and inserts it into the reply box with one click."""

from __future__ import annotations

from typing import Any

import pytest

from deskgate.models.enums import Role

pytestmark = pytest.mark.browser

BODY = "# 退货\n收到商品七天内可以**退货**。 <img src=x onerror=alert(1)>\n- 在订单页申请退货"


async def test_admin_writes_an_article_and_an_agent_inserts_it(browser: Any, api: Any,
                                                               token: Any) -> None:
    from playwright.async_api import expect

    b = await browser()
    await b.sign_in(token(Role.ADMIN))
    await b.page.goto(f"{b.base}/console/#/articles")
    await b.page.click("#kb-new")
    await b.page.fill("#kb-id", "returns")
    await b.page.fill("#kb-title", "退货政策")
    await b.page.select_option("#kb-form select[name=status]", "published")
    audience = b.page.locator("#kb-form select[name=audience]")
    await expect(audience).to_have_value("agents")
    await b.page.fill("#kb-body", BODY)
    preview = b.page.locator("#kb-preview")
    await expect(preview.locator("strong")).to_have_text("退货")
    await expect(preview.locator("li")).to_have_text("在订单页申请退货")
    await expect(preview).to_contain_text("<img src=x onerror=alert(1)>")
    assert await preview.locator("img").count() == 0
    await b.page.click("#kb-save")
    await b.page.fill("#kb-search", "怎么退货")
    await b.page.press("#kb-search", "Enter")
    hit = b.page.locator("#kb-results li[data-article=returns]")
    await expect(hit.locator("mark").first).to_have_text("退货")
    await expect(hit.locator(".badge.audience-agents")).to_have_count(1)
    assert (await api.call("GET", "/api/v1/articles/returns", Role.ADMIN))["audience"] == "agents"
    await b.shot("knowledge-admin")

    await api.call("PUT", "/api/v1/agents/ann", Role.ADMIN,
                   {"skills": ["billing", "logistics", "tech", "care", "general", "triage"],
                    "capacity": 3})
    await api.message("kb1", "我收到的耳机坏了，想退货", name="李雷")
    await api.wait_tickets(1)
    agent = await browser()
    await agent.sign_in(token(Role.AGENT, "ann"))
    await agent.page.keyboard.press("n")
    await agent.page.wait_for_selector("#thread .msg")
    suggestion = agent.page.locator("#suggested-articles li[data-article=returns]")
    await expect(suggestion).to_contain_text("退货政策")
    await expect(suggestion.locator(".badge.audience-agents")).to_have_count(1)
    await suggestion.locator("button.insert").click()
    await expect(agent.page.locator("#reply-text")).to_have_value(BODY)
    await agent.shot("knowledge-suggestions")

    # the admin makes it public: the editor shows the stored audience and saves the new one
    await hit.locator("a.article-title").click()
    await expect(audience).to_have_value("agents")
    await audience.select_option("public")
    await b.page.click("#kb-save")
    await expect(hit.locator(".badge.audience-public")).to_have_count(1)
    assert (await api.call("GET", "/api/v1/articles/returns", Role.ADMIN))["audience"] == "public"
    assert b.dialogs == [] and agent.dialogs == []
