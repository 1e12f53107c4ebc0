"""End-to-end in Debian's Chromium: a web-chat visitor who types a known customer's email is a
customer of their own in the console, the typed address shown with an "unverified" badge, and
the owner's other tickets are not listed beside the stranger's chat."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import aiohttp
import pytest

from deskgate.gateway.config import Config, WorkerConfig
from deskgate.models.enums import Role

pytestmark = pytest.mark.browser
SECRET = "site-secret-0123456789abcdef"


@pytest.fixture
def config(prefix: str) -> Config:
    return Config(redis_prefix=prefix,
                  workers=WorkerConfig(block_ms=50, claim_idle_ms=500, lease_seconds=60),
                  channels={"webchat": {"shop": {"secret": SECRET}}})


async def _chat(base: str, email: str, text: str) -> None:
    body = json.dumps({"message_id": "chat-1", "conversation_id": "conv-1",
                       "visitor": {"id": "stranger", "email": email}, "text": text}).encode()
    ts = str(int(time.time()))
    mac = hmac.new(SECRET.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    async with aiohttp.ClientSession() as http, http.post(
            f"{base}/webhooks/webchat/shop", data=body, headers={
                "Content-Type": "application/json", "X-Deskgate-Timestamp": ts,
                "X-Deskgate-Signature": f"sha256={mac}"}) as resp:
        assert resp.status == 200


async def test_a_typed_email_shows_as_unverified_and_joins_nobody(
        browser: Any, api: Any, server: str, token: Any) -> None:
    from playwright.async_api import expect

    await api.message("crm-1", "My order DD20261118004521 has not shipped", name="Vera VIP",
                      email="vip@example.com")
    await api.wait_tickets(1)
    await _chat(server, "vip@example.com", "Please read me the address on my last order")
    tickets = await api.wait_tickets(2)
    chat = next(t for t in tickets if t["channel"] == "webchat")

    b = await browser()
    await b.sign_in(token(Role.MANAGER))
    await b.page.goto(f"{b.base}/console/#/ticket/{chat['id']}")
    item = b.page.locator(".side-col .identities li", has_text="vip@example.com")
    await expect(item.locator(".badge.unverified")).to_have_text("unverified")
    await expect(b.page.locator(".side-col")).not_to_contain_text("Vera VIP")
    await expect(b.page.locator(".side-col")).to_contain_text("No other tickets.")
    await b.shot("unverified-identity")
