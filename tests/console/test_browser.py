"""End-to-end: Debian's Chromium, headless, drives the console served by the real app (triage
worker in-process) on a loopback port — one journey per role, the XSS cases, CSRF, the CSP and
the language switch. Screenshots go to test-artifacts/console/."""

from __future__ import annotations

import re
from typing import Any

import pytest

from deskgate.models.enums import Role

pytestmark = pytest.mark.browser
ALL_SKILLS = ["billing", "logistics", "tech", "care", "general", "triage"]
XSS_TEXT = ("<script>alert('x')</script> 我的订单 DD123456789 还没发货 "
            "<img src=x onerror=alert(1)> please check")
ANGRY = "This is a scam. My lawyer will sue you and I will post it to the news. Refund now!"



async def test_agent_takes_reads_notes_and_resolves_with_a_correction(
        browser: Any, api: Any, token: Any) -> None:
    from playwright.async_api import expect

    await api.call("PUT", "/api/v1/agents/ann", Role.ADMIN,
                   {"skills": ALL_SKILLS, "capacity": 3, "name": "Ann 安"})
    await api.message("x1", XSS_TEXT, name="<b>Eve</b><img src=x onerror=alert(2)>",
                      subject="<script>alert(3)</script>订单")
    await api.wait_tickets(1)
    b = await browser()
    await b.sign_in(token(Role.AGENT, "ann"))
    await expect(b.page.locator(".queue-card .depth").first).to_be_visible()
    await b.shot("agent-queues")

    await b.page.keyboard.press("n")                       # shortcut: take next
    await b.page.wait_for_selector("#thread .msg")
    # the same customer writes again from another shop: the ticket view lists it
    await api.message("x2", "Where is my parcel? Tracking says nothing since Monday.",
                      account="shop2")
    await api.wait_tickets(2)
    await b.page.reload()
    await expect(b.page.locator(".side-col .ticket-list .tid")).to_have_text("DG-2")
    thread = b.page.locator("#thread")
    await expect(thread).to_contain_text("<script>alert('x')</script>")
    await expect(thread).to_contain_text("<img src=x onerror=alert(1)>")
    await expect(thread).to_contain_text("<b>Eve</b>")
    await expect(b.page.locator("#ticket-subject")).to_have_text("<script>alert(3)</script>订单")
    assert await b.page.locator("#thread img, #thread script, #thread b").count() == 0
    await expect(b.page.locator("#thread mark.entity").first).to_have_text("DD123456789")
    await expect(b.page.locator(".triage")).to_contain_text("ORDER")

    await b.page.fill("#note-form textarea", "Called the warehouse <i>today</i>")
    await b.page.click("#note-form button")
    await expect(b.page.locator("#notes")).to_contain_text("Called the warehouse <i>today</i>")
    await b.shot("agent-ticket")

    ticket_id = (await b.page.locator(".ticket-head .tid").inner_text()).strip()
    await b.page.keyboard.press("r")                       # shortcut: to the resolve form
    await b.page.fill("#resolve-form input[name=topic]", "shipping")
    await b.page.select_option("#resolve-form select[name=priority]", "P2")
    await b.page.click("#resolve")
    await b.page.wait_for_url("**/console/#/queues")
    done = await api.call("GET", f"/api/v1/tickets/{ticket_id}", Role.ADMIN)
    assert done["status"] == "resolved"
    assert done["correction"] == {"topic": "shipping", "priority": "P2"}
    assert b.dialogs == []                                  # no injected script ever ran

    phone = await browser(390, 844)
    await phone.sign_in(token(Role.AGENT, "ann"))
    await phone.page.goto(f"{phone.base}/console/#/ticket/{ticket_id}")
    await phone.page.wait_for_selector("#thread .msg")
    await phone.shot("agent-ticket-phone")
    wide = await phone.page.evaluate("""() => [...document.querySelectorAll("body *")]
        .filter((e) => e.getBoundingClientRect().right > 391)
        .map((e) => e.tagName + "." + e.className + "#" + e.id).slice(0, 8)""")
    assert wide == []                                        # no sideways scrolling on a phone
    assert phone.dialogs == []


async def test_manager_reviews_a_flagged_ticket_live(browser: Any, api: Any,
                                                    token: Any) -> None:
    from playwright.async_api import expect

    b = await browser()
    await b.sign_in(token(Role.MANAGER))
    await expect(b.page.locator("#review-count")).to_be_visible()
    await api.message("r1", ANGRY, email="angry@example.com", name="Zhao 赵")
    await api.message("r2", "请问你们的发票怎么开？", email="wang@example.cn")
    item = b.page.locator(".review-item")
    await expect(item).to_have_count(1)                     # arrived live, no reload
    await expect(item).to_contain_text("lawyer")
    await b.shot("manager-review")
    ticket_id = await item.get_attribute("data-ticket")
    await item.locator("button.false-alarm").click()
    await expect(item).to_have_count(0)
    review = await api.call("GET", "/api/v1/review", Role.MANAGER)
    assert all(i["ticket_id"] != ticket_id for i in review["items"])

    await b.page.click("#nav a[href='#/board']")
    await expect(b.page.locator(".grid-table").first).to_be_visible()
    await b.shot("manager-board")
    await b.page.click("#nav a[href='#/stats']")
    await expect(b.page.locator("svg.chart")).to_have_count(4)
    await b.shot("manager-volume")
    assert b.dialogs == []


async def test_self_harm_is_first_with_guidance(browser: Any, api: Any, token: Any) -> None:
    from playwright.async_api import expect

    b = await browser()
    await b.sign_in(token(Role.MANAGER))
    await expect(b.page.locator("#review-count")).to_be_visible()
    await api.message("s1", ANGRY, email="angry2@example.com")
    await expect(b.page.locator(".review-item")).to_have_count(1)
    await api.message("s2", "钱都被骗光了，我真的不想活了", email="li@example.cn")
    first = b.page.locator(".review-item").first
    await expect(first).to_have_class(re.compile(r"\burgent\b"))      # arrived last, shown first
    await expect(first.locator("#urgent-guidance")).to_contain_text("crisis line")
    await b.shot("manager-review-urgent")
    await first.locator("a.tid").click()
    await expect(b.page.locator(".side-col #urgent-guidance")).to_be_visible()
    await expect(b.page.locator(".risk-categories li.flagged").first).to_contain_text("Self-harm")
    assert b.dialogs == []


async def test_admin_creates_a_token_and_edits_routing(browser: Any, api: Any,
                                                       token: Any) -> None:
    from playwright.async_api import expect

    b = await browser()
    await b.sign_in(token(Role.ADMIN, label="root"))
    await b.page.select_option("#token-form select[name=role]", "agent")
    await b.page.fill("#token-form input[name=agent_id]", "cy")
    await b.page.fill("#token-form input[name=label]", "Cy's laptop")
    await b.page.click("#token-form button[type=submit]")
    made = await b.page.locator("#token-value").input_value()
    assert made.startswith("dgt_")
    async with api.http.get(f"{api.base}/api/v1/stats/board",
                            headers={"Authorization": f"Bearer {made}"}) as resp:
        assert resp.status == 200                            # the new token really works
    await expect(b.page.locator("tr[data-token] >> text=Cy's laptop")).to_be_visible()

    await b.page.fill("#agent-form input[name=agent_id]", "cy")
    await b.page.fill("#agent-form input[name=skills]", "billing:3, tech")
    await b.page.click("#agent-form button[type=submit]")
    await expect(b.page.locator("td >> text=billing, tech")).to_be_visible()
    cy = await api.call("GET", "/api/v1/agents/cy", Role.ADMIN)
    assert cy["skills"] == {"billing": 3, "tech": 1}

    routing = b.page.locator("#routing-text")
    await expect(routing).to_have_value(re.compile(r"^\{"))             # loaded
    await routing.fill('{"rules": [{"topics": ["billing"], "skill": "Bad Skill!"}]}')
    await b.page.click("#routing-form button[type=submit]")
    await expect(b.page.locator("#routing-error")).to_contain_text("skill")
    await routing.fill('{"default_skill": "general", "rules": '
                       '[{"topics": ["billing"], "skill": "billing"}, '
                       '{"topics": ["complaint"], "skill": "care"}]}')
    await b.page.click("#routing-form button[type=submit]")
    await expect(b.page.locator("#routing-error")).to_have_text("")
    table = (await api.call("GET", "/api/v1/routing", Role.ADMIN))["table"]
    assert [r["skill"] for r in table["rules"]] == ["billing", "care"]
    await b.shot("admin")
    assert b.dialogs == []


async def test_csrf_csp_and_language(browser: Any, token: Any) -> None:
    from playwright.async_api import expect

    b = await browser(locale="en-GB")
    response = await b.page.goto(f"{b.base}/console/")
    csp = (await response.all_headers())["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    await b.sign_in(token(Role.MANAGER))
    statuses = await b.page.evaluate("""async () => {
        const path = "/api/v1/tickets/DG-999/resolve";
        const bare = await fetch(path, {method: "POST", headers: {"Content-Type": "application/json"}, body: "{}"});
        const s = await (await fetch("/console/session")).json();
        const good = await fetch(path, {method: "POST", body: "{}", headers: {
            "Content-Type": "application/json", "X-CSRF-Token": s.csrf}});
        return [bare.status, good.status];
    }""")
    assert statuses == [403, 404]       # refused without the token; with it, past auth
    # the CSP really blocks inline script: an injected inline <script> never runs
    ran = await b.page.evaluate("""() => { const s = document.createElement("script");
        s.textContent = "window.__inline = 1"; document.body.append(s); return window.__inline || 0; }""")
    assert ran == 0

    await b.page.click("#lang")
    await expect(b.page.locator("#nav")).to_contain_text("审核")
    await b.page.reload()
    await expect(b.page.locator("#nav")).to_contain_text("实时看板")   # remembered
    await b.page.click("#help-open")
    await expect(b.page.locator("#help")).to_contain_text("键盘快捷键")
    await b.shot("manager-zh")
