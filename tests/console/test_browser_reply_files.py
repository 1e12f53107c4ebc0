"""The reply box's file picker and template picker in Chromium, on WhatsApp tickets: the
channel's limits are shown; a file the channel does not take is refused before it is
uploaded; picked files are uploaded to the ticket, listed with type and size, removable, and
go with the reply; once the 24-hour window has closed, the account's configured templates
are offered (in Chinese here) and the reply goes as the chosen one with its variables."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from deskgate.gateway.config import Config, WorkerConfig
from deskgate.models.enums import Channel, Role
from deskgate.models.ticket import Agent
from deskgate.queue.keys import Keys
from deskgate.queue.work import Work
from tests.outbound.conftest import Tickets, chat_message

pytestmark = pytest.mark.browser

PNG = b"\x89PNG\r\n\x1a\n" + b"p" * 1500
TEMPLATE = {"name": "order_update", "language": "zh_CN", "title": "订单进度 Order update",
            "variables": ["订单号", "预计送达"]}


@pytest.fixture
def config(prefix: str) -> Config:
    return Config(redis_prefix=prefix,
                  workers=WorkerConfig(block_ms=50, claim_idle_ms=500, lease_seconds=600),
                  channels={"whatsapp": {"main": {
                      "app_secret": "a" * 32, "verify_token": "v" * 16,
                      "access_token": "EAAG-token", "phone_number_id": "106540352242922",
                      "api_base": "http://127.0.0.1:9", "templates": [TEMPLATE]}}})


@pytest.fixture
async def tickets(redis_url: str, keys: Keys) -> AsyncIterator[Tickets]:
    client = aioredis.Redis.from_url(redis_url)
    await Work(client, keys).put_agent(Agent(id="ann", skills={"general": 1}, capacity=20))
    yield Tickets(client, keys)
    await client.aclose()


async def test_files_are_checked_uploaded_listed_and_sent(browser: Any, api: Any, token: Any,
                                                          tickets: Tickets) -> None:
    from playwright.async_api import expect

    tid = await tickets.open(chat_message(Channel.WHATSAPP, "8613800138000", account="main",
                                          at=time.time() - 2 * 3600))
    b = await browser()
    await b.sign_in(token(Role.AGENT, "ann"))
    await b.page.goto(f"{b.base}/console/#/ticket/{tid}")
    limits = b.page.locator("#reply-limits")
    await expect(limits).to_contain_text("image (jpeg/png) ≤ 5 MB")
    # documents: WhatsApp takes 100 MB, an upload here 25 MB
    await expect(limits).to_contain_text("document (doc/docx/pdf/ppt/pptx/txt/xls/xlsx) ≤ 25 MB")
    await expect(b.page.locator("#reply-template")).to_be_hidden()
    picker = b.page.locator("#reply-file")
    await picker.set_input_files([{"name": "logs.zip", "mimeType": "application/zip",
                                   "buffer": b"PK\x03\x04"}])
    await expect(b.page.locator(".toast").last).to_contain_text(
        "logs.zip: this channel does not take application/zip files")
    await picker.set_input_files([
        {"name": "面单.png", "mimeType": "image/png", "buffer": PNG},
        {"name": "extra.png", "mimeType": "image/png", "buffer": PNG + b"x"}])
    files = b.page.locator("#reply-files li")
    await expect(files).to_have_count(2)
    await expect(files.first).to_contain_text("面单.png (image/png, 1.5 KB)")
    await b.page.get_by_role("button", name="Remove extra.png").click()
    await expect(files).to_have_count(1)
    await b.page.fill("#reply-text", "您好，面单见附件")
    await b.page.locator("#reply-text").press("Control+Enter")
    ours = b.page.locator("#thread .msg.ours")
    await expect(ours).to_have_count(1)
    await expect(ours).to_contain_text("📎 面单.png")
    await expect(files).to_have_count(0)
    await b.shot("reply-files")
    [reply] = (await api.call("GET", f"/api/v1/tickets/{tid}/replies", Role.ADMIN))["replies"]
    [att] = reply["attachments"]
    assert (att["name"], att["content_type"], att["size"]) == ("面单.png", "image/png", len(PNG))
    assert b.dialogs == []


async def test_after_the_window_the_reply_goes_as_a_chosen_template(
        browser: Any, api: Any, token: Any, tickets: Tickets) -> None:
    from playwright.async_api import expect

    tid = await tickets.open(chat_message(Channel.WHATSAPP, "8613800138001", account="main",
                                          at=time.time() - 30 * 3600))
    b = await browser(locale="zh-CN")
    await b.sign_in(token(Role.AGENT, "ann"))
    await b.page.goto(f"{b.base}/console/#/ticket/{tid}")
    await expect(b.page.locator(".reply-template")).to_contain_text("回复窗口已关闭")
    await b.page.select_option("#reply-template", label="订单进度 Order update (zh_CN)")
    await b.page.get_by_label("订单号").fill("A12345678")
    await b.page.get_by_label("预计送达").fill("12月5日")
    await expect(b.page.locator("#reply-attach")).to_be_hidden()   # templates carry no files
    await b.page.click("#reply-send")
    ours = b.page.locator("#thread .msg.ours")
    await expect(ours).to_have_count(1)
    await expect(ours).to_contain_text("order_update (zh_CN) · A12345678 · 12月5日")
    await b.shot("reply-template-zh")
    [reply] = (await api.call("GET", f"/api/v1/tickets/{tid}/replies", Role.ADMIN))["replies"]
    assert reply["template"] == {"name": "order_update", "language": "zh_CN",
                                 "parameters": ["A12345678", "12月5日"]}
