"""The console shows an agent which mail could not be proven to come from its sender: a forged
From delivered over real SMTP opens a ticket with the "Unverified sender" badge on the ticket,
its thread message and the ticket search list (issue 11 §4)."""

from __future__ import annotations

import asyncio
import smtplib
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from deskgate.gateway.config import Config, parse_config
from deskgate.models.enums import Role

pytestmark = pytest.mark.browser


@pytest.fixture
def silent_dns() -> Iterator[int]:
    """A loopback UDP port that never answers: no sender can be verified (and no real DNS)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def config(prefix: str, free_port: Callable[[], int], silent_dns: int) -> Config:
    return parse_config(f"""
redis_prefix: "{prefix}"
workers: {{block_ms: 50, claim_idle_ms: 500, lease_seconds: 60}}
email:
  sender_auth: {{nameservers: ["127.0.0.1:{silent_dns}"], dns_timeout_seconds: 0.2,
                dns_budget_seconds: 0.5}}
  smtp: {{host: 127.0.0.1, port: {free_port()}}}
  inboxes: [{{address: "*", account: support, skill: billing}}]
""")


def deliver(port: int) -> None:
    raw = (b"From: Wang Fang <wang.fang@example.org>\r\nTo: support@example.com\r\n"
           b"Subject: Re: [#DG-1] refund\r\nMessage-ID: <forged-1@evil.example>\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
           b"Please send the refund to my new IBAN.\r\n")
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        s.sendmail("wang.fang@example.org", ["support@example.com"], raw)


async def test_unverified_sender_badge_on_ticket_thread_and_search(
        browser: Any, api: Any, token: Any, config: Config) -> None:
    from playwright.async_api import expect

    await asyncio.to_thread(deliver, config.email.smtp.port)
    [ticket] = await api.wait_tickets(1)
    assert ticket["unverified_sender"] is True
    b = await browser()
    await b.sign_in(token(Role.MANAGER))
    await b.page.goto(f"{b.base}/console/#/ticket/{ticket['id']}")
    await b.page.wait_for_selector("#thread .msg")
    await expect(b.page.locator(".ticket-head .badge.unverified")).to_have_text(
        "Unverified sender")
    badge = b.page.locator("#thread .msg .badge.unverified")
    await expect(badge).to_be_visible()
    assert "nothing aligned with example.org" in (await badge.get_attribute("title") or "")
    await b.shot("unverified-sender")
    await b.page.goto(f"{b.base}/console/#/tickets")
    await expect(b.page.locator("td.subject .badge.unverified").first).to_be_visible()
