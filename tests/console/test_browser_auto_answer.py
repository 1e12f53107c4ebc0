"""Auto-answers in Debian's Chromium: an admin configures one in the console (the secret never
shown again), tests the lookup against the shop's stand-in (signed, checked there) and sees
the answer a customer would get; then a ticket the stage left to agents shows why, in the
ticket view, in Chinese too."""

from __future__ import annotations

from typing import Any

import pytest

from deskgate.models.enums import Role
from tests.autoanswer.conftest import LOOKUP_SECRET, Lookup

pytestmark = pytest.mark.browser


@pytest.fixture
async def shop(aiohttp_server: Any) -> Lookup:
    s = Lookup()
    server = await aiohttp_server(s.app)
    s.base = str(server.make_url("")).rstrip("/")
    return s


async def test_admin_configures_and_tests_an_auto_answer(browser: Any, api: Any, token: Any,
                                                         shop: Lookup) -> None:
    from playwright.async_api import expect

    b = await browser()
    await b.sign_in(token(Role.ADMIN, label="root"))
    await b.page.click("#nav a[href='#/auto-answers']")
    form = b.page.locator("#aa-form")
    await form.locator("input[name=account]").fill("default")
    await form.locator("input[name=url]").fill(f"{shop.base}/lookup")
    await form.locator("input[name=secret]").fill(LOOKUP_SECRET)
    await form.locator("input[name=required_fields]").fill("status, eta")
    await form.locator("input[name=condition_field]").fill("status")
    await form.locator("input[name=condition_one_of]").fill("shipped, in_transit")
    await form.locator("textarea[name=en]").fill("Order {order_number}: {status}, due {eta}.")
    await form.locator("textarea[name=zh]").fill("订单 {order_number}：{status}，预计 {eta} 送达。")
    await form.locator("button[type=submit]").click()
    row = b.page.locator("tr[data-id='default/order_status']")
    await expect(row).to_contain_text("set")
    assert LOOKUP_SECRET not in await b.page.content()
    values = await b.page.evaluate(
        "() => [...document.querySelectorAll('input')].map(i => i.value)")
    assert all(LOOKUP_SECRET not in v for v in values)

    # a template naming a field the gates do not require is refused, the reason shown
    form = b.page.locator("#aa-form")
    await form.locator("textarea[name=en]").fill("Order {order_number} via {carrier}")
    await form.locator("button[type=submit]").click()
    await expect(b.page.locator("#aa-error")).to_contain_text("gates.required_fields")

    await form.locator("input[name=probe]").fill("DD20261118004521")
    await form.locator("#aa-test").click()
    result = b.page.locator("#aa-test-result")
    await expect(result).to_contain_text("a customer would get this answer")
    await expect(result).to_contain_text("shipped")
    assert shop.refused == [] and shop.requests[-1]["entities"] == {
        "ORDER_ID": ["DD20261118004521"]}
    await b.shot("admin-auto-answers")

    # a ticket the stage decided on: the stand-in fails, so it is left to agents with why
    shop.mode = "500"
    await api.message("aa-console-1", "Where is my order DD20261118004521? Not here yet.")
    [ticket] = await api.wait_tickets(1)
    for _ in range(400):
        got = await api.call("GET", f"/api/v1/tickets/{ticket['id']}", Role.ADMIN)
        if got.get("auto_answer"):
            break
        await b.page.wait_for_timeout(50)
    assert got["auto_answer"]["reason"] == "the lookup answered HTTP 500"
    await b.page.goto(f"{b.base}/console/#/ticket/{ticket['id']}")
    panel = b.page.locator("#auto-answer")
    await expect(panel).to_contain_text("left to agents")
    await expect(panel).to_contain_text("the lookup answered HTTP 500")
    await b.page.click("#lang")
    await expect(b.page.locator("#auto-answer")).to_contain_text("已转给客服")
    await b.shot("ticket-auto-answer")

    # the deflection report has its card on the reports page
    await b.page.goto(f"{b.base}/console/#/reports")
    await expect(b.page.locator("[data-report=auto-answer] h2")).to_have_text("自动答复：分流率与重开")
