"""WhatsApp Cloud API and Messenger/Instagram Send API senders against stand-ins that check
the bearer token, the path and the documented body shape (tests/fixtures/send/)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from deskgate.connectors.messenger import MessengerConnector
from deskgate.connectors.send.base import Rejected, RetryLater, WindowClosed
from deskgate.connectors.send.messenger import InstagramSender, MessengerSender
from deskgate.connectors.send.whatsapp import WhatsAppSender
from deskgate.connectors.whatsapp import WhatsAppConnector
from deskgate.models.enums import Channel
from deskgate.models.outbound import OutboundMessage, Recipient, TemplateCall
from deskgate.queue.access_tokens import RedisAccessTokens
from tests.send.conftest import STALL, Scripted, StandIn, doc, refuse, same_shape

WA = doc("whatsapp", "messages.json")
FB = doc("messenger", "send.json")
TOKEN = "EAAG-system-user-token-0123456789"
PHONE_ID = "106540352242922"
Start = Callable[[Callable[[StandIn], None]], Awaitable[StandIn]]


def wa_routes(s: StandIn) -> None:
    async def messages(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response(WA["token_expired"], status=401)
        if request.match_info["phone"] != PHONE_ID:
            return refuse(404, "unknown phone number id")
        body = await request.json()
        example = WA["template_request"] if body.get("type") == "template" else \
            WA["text_request"]
        why = same_shape(body, example, optional=("context", "components"))
        return refuse(400, why) if why else await s.reply(body)
    s.app.router.add_post("/{phone}/messages", messages)
    s.default = Scripted(body=WA["ok"])


def fb_routes(s: StandIn) -> None:
    async def messages(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response(WA["token_expired"], status=401)
        body = await request.json()
        example = FB["tagged_request"] if "tag" in body else FB["response_request"]
        why = same_shape(body, example)
        return refuse(400, why) if why else await s.reply(body)
    s.app.router.add_post("/me/messages", messages)
    s.default = Scripted(body=FB["ok"])


def meta_settings(connector: Any, base: str, **extra: Any) -> Any:
    return connector.settings({"app_secret": "a" * 32, "verify_token": "v" * 16,
                               "access_token": TOKEN, "api_base": base} | extra)


def reply(channel: Channel, address: str, *, last_inbound: timedelta | None = None,
          template: TemplateCall | None = None, in_reply_to: str = "") -> OutboundMessage:
    opened = None if last_inbound is None else datetime.now(UTC) - last_inbound
    return OutboundMessage(reply_id="r1", ticket_id="T1", recipient=Recipient(channel, "main",
                                                                                address),
                           text="您好", author="ann", created_at=datetime.now(UTC),
                           template=template, window_opened_at=opened, in_reply_to=in_reply_to)


TEMPLATE = TemplateCall("order_update", "zh_CN", ("DG-42",))


async def test_whatsapp_text_inside_the_window(standin: Start, http: aiohttp.ClientSession,
                                               tokens: RedisAccessTokens) -> None:
    s = await standin(wa_routes)
    conf = meta_settings(WhatsAppConnector(), s.base, phone_number_id=PHONE_ID)
    result = await WhatsAppSender().send(
        reply(Channel.WHATSAPP, "8613800138000", last_inbound=timedelta(hours=2),
              in_reply_to="wamid.IN1"), conf, http, tokens)
    assert result.provider_id == WA["ok"]["messages"][0]["id"]
    assert s.requests == [WA["text_request"] | {"context": {"message_id": "wamid.IN1"}}]


async def test_whatsapp_closed_window(standin: Start, http: aiohttp.ClientSession,
                                      tokens: RedisAccessTokens) -> None:
    s = await standin(wa_routes)
    conf = meta_settings(WhatsAppConnector(), s.base, phone_number_id=PHONE_ID)
    sender = WhatsAppSender()
    # known closed, no template: refused here, nothing sent
    with pytest.raises(WindowClosed, match="24 hours"):
        await sender.send(reply(Channel.WHATSAPP, "8613800138000",
                                last_inbound=timedelta(hours=25)), conf, http, tokens)
    assert s.requests == []
    # known closed with a template: the template goes
    await sender.send(reply(Channel.WHATSAPP, "8613800138000", last_inbound=timedelta(hours=25),
                            template=TEMPLATE), conf, http, tokens)
    assert s.requests == [WA["template_request"]]
    # unknown window, Meta says 131047: the template follows in the same attempt
    s.answer_next(Scripted(400, WA["reengagement"]))
    await sender.send(reply(Channel.WHATSAPP, "8613800138000", template=TEMPLATE), conf, http,
                      tokens)
    assert [r["type"] for r in s.requests[1:]] == ["text", "template"]
    # ... and without a template it is WindowClosed with Meta's words
    s.answer_next(Scripted(400, WA["reengagement"]))
    with pytest.raises(WindowClosed, match="131047"):
        await sender.send(reply(Channel.WHATSAPP, "8613800138000"), conf, http, tokens)


async def test_whatsapp_failures(standin: Start, http: aiohttp.ClientSession,
                                 tokens: RedisAccessTokens) -> None:
    s = await standin(wa_routes)
    conf = meta_settings(WhatsAppConnector(), s.base, phone_number_id=PHONE_ID)
    msg = reply(Channel.WHATSAPP, "8613800138000")
    s.answer_next(Scripted(503, b"unavailable", {"Retry-After": "30"}),
                  Scripted(400, WA["throughput"]), STALL, Scripted(400, WA["bad_recipient"]))
    with pytest.raises(RetryLater) as e:
        await WhatsAppSender().send(msg, conf, http, tokens)
    assert e.value.retry_after == 30
    with pytest.raises(RetryLater, match="130429") as e:
        await WhatsAppSender().send(msg, conf, http, tokens)
    assert e.value.retry_after == 60
    with pytest.raises(RetryLater, match="no answer"):
        await WhatsAppSender().send(msg, conf, http, tokens)
    with pytest.raises(Rejected, match="allowed list"):
        await WhatsAppSender().send(msg, conf, http, tokens)
    expired = meta_settings(WhatsAppConnector(), s.base, phone_number_id=PHONE_ID,
                            access_token="EAAG-old")
    with pytest.raises(RetryLater, match="access_token") as e:
        await WhatsAppSender().send(msg, expired, http, tokens)
    assert e.value.retry_after == 300
    with pytest.raises(Rejected, match="phone_number_id"):
        await WhatsAppSender().send(msg, meta_settings(WhatsAppConnector(), s.base), http,
                                    tokens)


async def test_messenger_window_and_human_agent_tag(standin: Start,
                                                    http: aiohttp.ClientSession,
                                                    tokens: RedisAccessTokens) -> None:
    s = await standin(fb_routes)
    plain = meta_settings(MessengerConnector(), s.base)
    tagged = meta_settings(MessengerConnector(), s.base, human_agent=True)
    sender = MessengerSender()
    result = await sender.send(reply(Channel.MESSENGER, "24681012",
                                     last_inbound=timedelta(hours=1)), plain, http, tokens)
    assert result.provider_id == FB["ok"]["message_id"]
    with pytest.raises(WindowClosed, match="24 hours"):
        await sender.send(reply(Channel.MESSENGER, "24681012", last_inbound=timedelta(days=2)),
                          plain, http, tokens)
    await sender.send(reply(Channel.MESSENGER, "24681012", last_inbound=timedelta(days=2)),
                      tagged, http, tokens)
    with pytest.raises(WindowClosed, match="7 days"):
        await sender.send(reply(Channel.MESSENGER, "24681012", last_inbound=timedelta(days=8)),
                          tagged, http, tokens)
    assert s.requests == [FB["response_request"], FB["tagged_request"]]
    s.answer_next(Scripted(400, FB["outside_window"]), Scripted(400, FB["rate_limited"]),
                  Scripted(429, b"{}", {"Retry-After": "5"}))
    with pytest.raises(WindowClosed, match="2018278"):
        await sender.send(reply(Channel.MESSENGER, "24681012"), plain, http, tokens)
    with pytest.raises(RetryLater, match="613"):
        await sender.send(reply(Channel.MESSENGER, "24681012"), plain, http, tokens)
    with pytest.raises(RetryLater) as e:
        await InstagramSender().send(reply(Channel.INSTAGRAM, "24681012"), plain, http, tokens)
    assert e.value.retry_after == 5
