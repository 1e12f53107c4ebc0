"""The reply box in Chromium: an agent takes a ticket, picks a macro (filled in for the
ticket), edits it and sends with Ctrl+Enter; the reply shows in the thread after the
customer's message with its delivery state, exactly once, escaped."""

from __future__ import annotations

from typing import Any

import pytest

from deskgate.models.enums import Role

pytestmark = pytest.mark.browser


async def test_agent_replies_with_a_macro_and_ctrl_enter(browser: Any, api: Any,
                                                         token: Any) -> None:
    from playwright.async_api import expect

    await api.call("PUT", "/api/v1/agents/ann", Role.ADMIN,
                   {"skills": ["billing", "logistics", "tech", "care", "general", "triage"],
                    "capacity": 3})
    await api.call("PUT", "/api/v1/macros/greet", Role.ADMIN, {
        "title": "问候 Greeting", "zh": "{customer_name}您好，工单 {ticket} 已收到。",
        "en": "Hello {customer_name}, we have ticket {ticket}."})
    await api.message("r1", "我的订单还没有发货，请帮我查一下", name="李雷")
    [tk] = await api.wait_tickets(1)
    b = await browser()
    await b.sign_in(token(Role.AGENT, "ann"))
    await b.page.keyboard.press("n")
    await b.page.wait_for_selector("#thread .msg")
    await b.page.select_option("#reply-macro", "greet")
    await expect(b.page.locator("#reply-text")).to_have_value(f"李雷您好，工单 {tk['id']} 已收到。")
    await b.page.locator("#reply-text").press("End")
    await b.page.locator("#reply-text").type(" <b>稍后</b>回复")
    await b.page.locator("#reply-text").press("Control+Enter")
    ours = b.page.locator("#thread .msg.ours")
    await expect(ours).to_have_count(1)
    await expect(ours).to_contain_text(f"工单 {tk['id']} 已收到。 <b>稍后</b>回复")
    await expect(ours.locator(".tick")).to_be_visible()
    await expect(b.page.locator("#thread .msg").last).to_have_class("msg ours chan-email")
    await expect(b.page.locator("#reply-text")).to_have_value("")
    assert await b.page.locator("#thread b").count() == 0
    await b.shot("agent-reply")
    replies = await api.call("GET", f"/api/v1/tickets/{tk['id']}/replies", Role.ADMIN)
    assert [r["text"] for r in replies["replies"]] == [
        f"李雷您好，工单 {tk['id']} 已收到。 <b>稍后</b>回复"]
    assert b.dialogs == []
