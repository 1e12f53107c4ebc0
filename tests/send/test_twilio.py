"""Twilio Messages API: Basic auth, form-encoded To/From/Body (or ContentSid outside the
WhatsApp window), the Message sid back, Twilio's error codes mapped."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from deskgate.connectors.send.base import Rejected, RetryLater, WindowClosed
from deskgate.connectors.send.twilio import TwilioSender
from deskgate.connectors.twilio import TwilioConnector
from deskgate.models.enums import Channel
from deskgate.models.outbound import OutboundMessage, Recipient, TemplateCall
from deskgate.queue.access_tokens import RedisAccessTokens
from tests.send.conftest import STALL, Scripted, StandIn, doc, refuse, same_shape

DOC = doc("twilio", "messages.json")
SID, AUTH = "AC" + "0" * 32, "f" * 32
Start = Callable[..., Awaitable[Any]]


def routes(s: StandIn) -> None:
    async def create(request: web.Request) -> web.Response:
        expected = "Basic " + base64.b64encode(f"{SID}:{AUTH}".encode()).decode()
        if request.headers.get("Authorization") != expected or \
                request.match_info["sid"] != SID:
            return web.json_response(DOC["auth_failed"], status=401)
        if request.content_type != "application/x-www-form-urlencoded":
            return refuse(415, request.content_type)
        form = dict(await request.post())
        example = DOC["template_request"] if "ContentSid" in form else DOC["sms_request"]
        why = same_shape(form, example, optional=("ContentVariables",))
        return refuse(400, why) if why else await s.reply(form)
    s.app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", create)
    s.default = Scripted(201, DOC["created"])


def settings(base: str, **extra: Any) -> Any:
    return TwilioConnector().settings({"auth_token": AUTH, "account_sid": SID,
                                       "from_number": "+15557122661",
                                       "whatsapp_from": "+15557122661", "api_base": base}
                                      | extra)


def reply(channel: Channel, last: timedelta | None = None,
          template: TemplateCall | None = None) -> OutboundMessage:
    return OutboundMessage(reply_id="r1", ticket_id="T1",
                           recipient=Recipient(channel, "main", "+8613800138000"), text="您好",
                           author="ann", created_at=datetime.now(UTC), template=template,
                           window_opened_at=None if last is None else datetime.now(UTC) - last)


async def test_sms_and_whatsapp(standin: Start, http: aiohttp.ClientSession,
                                tokens: RedisAccessTokens) -> None:
    s = await standin(routes)
    conf, sender = settings(s.base), TwilioSender()
    assert (await sender.send(reply(Channel.SMS), conf, http, tokens)).provider_id == \
        DOC["created"]["sid"]
    await sender.send(reply(Channel.WHATSAPP, timedelta(hours=3)), conf, http, tokens)
    await sender.send(reply(Channel.WHATSAPP, timedelta(hours=30),
                            TemplateCall("HXb5b62575e6e4ff6129ad7c8efe1f983e", "zh_CN",
                                         ("DG-42",))), conf, http, tokens)
    assert s.requests == [DOC["sms_request"], DOC["whatsapp_request"], DOC["template_request"]]
    with pytest.raises(WindowClosed, match="24 hours"):
        await sender.send(reply(Channel.WHATSAPP, timedelta(hours=30)), conf, http, tokens)
    assert len(s.requests) == 3


async def test_errors(standin: Start, http: aiohttp.ClientSession,
                      tokens: RedisAccessTokens) -> None:
    s = await standin(routes)
    conf, sender = settings(s.base), TwilioSender()
    s.answer_next(Scripted(400, DOC["invalid_to"]), Scripted(429, DOC["too_many"],
                                                             {"Retry-After": "2"}),
                  Scripted(500, b""), STALL, Scripted(400, DOC["outside_window"]))
    with pytest.raises(Rejected, match="21211") as e:
        await sender.send(reply(Channel.SMS), conf, http, tokens)
    assert not isinstance(e.value, RetryLater)
    with pytest.raises(RetryLater) as e2:
        await sender.send(reply(Channel.SMS), conf, http, tokens)
    assert e2.value.retry_after == 2
    with pytest.raises(RetryLater, match="500"):
        await sender.send(reply(Channel.SMS), conf, http, tokens)
    with pytest.raises(RetryLater, match="no answer"):
        await sender.send(reply(Channel.SMS), conf, http, tokens)
    with pytest.raises(WindowClosed, match="63016"):
        await sender.send(reply(Channel.WHATSAPP), conf, http, tokens)
    with pytest.raises(RetryLater, match="credentials") as e3:
        await sender.send(reply(Channel.SMS), settings(s.base, auth_token="e" * 32), http,
                          tokens)
    assert e3.value.retry_after == 300
    with pytest.raises(Rejected, match="from_number"):
        await sender.send(reply(Channel.SMS), settings(s.base, from_number=""), http, tokens)
