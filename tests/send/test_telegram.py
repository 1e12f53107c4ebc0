"""Telegram sendMessage against a stand-in that checks the bot token in the path and the
documented JSON shape."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import aiohttp
import pytest
from aiohttp import web

from deskgate.connectors.send.base import Rejected, RetryLater
from deskgate.connectors.send.telegram import TelegramSender
from deskgate.connectors.telegram import TelegramConnector
from deskgate.models.enums import Channel
from deskgate.models.outbound import OutboundMessage, Recipient
from deskgate.queue.access_tokens import RedisAccessTokens
from tests.send.conftest import STALL, Scripted, StandIn, doc, refuse

DOC = doc("telegram", "sendMessage.json")
BOT = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"


def routes(s: StandIn) -> None:
    async def send(request: web.Request) -> web.Response:
        if request.match_info["token"] != BOT:
            return web.json_response(DOC["unauthorized"], status=401)
        body = await request.json()
        if not set(DOC["required"]) <= set(body) or not set(body) <= set(DOC["allowed"]):
            return refuse(400, f"fields {sorted(body)}")
        if not isinstance(body["text"], str) or not body["text"]:
            return refuse(400, "text")
        return await s.reply(body)
    s.app.router.add_post("/bot{token}/sendMessage", send)
    s.default = Scripted(body=DOC["ok"])


def settings(base: str, bot: str = BOT) -> object:
    return TelegramConnector().settings({"secret_token": "s" * 20, "bot_token": bot,
                                         "api_base": base})


def reply(text: str = "您好，订单已发出 / shipped", in_reply_to: str = "") -> OutboundMessage:
    return OutboundMessage(reply_id="r1", ticket_id="T1",
                           recipient=Recipient(Channel.TELEGRAM, "bot1", "123456789"),
                           text=text, author="ann", created_at=datetime.now(UTC),
                           in_reply_to=in_reply_to)


Start = Callable[[Callable[[StandIn], None]], Awaitable[StandIn]]


async def test_sends_text_as_a_reply(standin: Start, http: aiohttp.ClientSession,
                                     tokens: RedisAccessTokens) -> None:
    s = await standin(routes)
    result = await TelegramSender().send(reply(in_reply_to="123456789:42"), settings(s.base),
                                         http, tokens)
    assert result.provider_id == "123456789:4711"
    assert s.requests == [{"chat_id": "123456789", "text": "您好，订单已发出 / shipped",
                           "reply_parameters": {"message_id": 42,
                                                "allow_sending_without_reply": True}}]


async def test_failures_map_to_retry_or_reject(standin: Start, http: aiohttp.ClientSession,
                                               tokens: RedisAccessTokens) -> None:
    s = await standin(routes)
    s.answer_next(Scripted(502, b"bad gateway"),
                  Scripted(429, DOC["too_many"]),
                  Scripted(429, DOC["too_many"], {"Retry-After": "11"}),
                  STALL,
                  Scripted(400, DOC["chat_not_found"]))
    sender, conf = TelegramSender(), settings(s.base)
    with pytest.raises(RetryLater, match="502") as e1:
        await sender.send(reply(), conf, http, tokens)
    assert e1.value.retry_after is None
    with pytest.raises(RetryLater) as e2:        # retry_after from the body's parameters
        await sender.send(reply(), conf, http, tokens)
    assert e2.value.retry_after == 7
    with pytest.raises(RetryLater) as e3:        # the header when there is one
        await sender.send(reply(), conf, http, tokens)
    assert e3.value.retry_after == 11
    with pytest.raises(RetryLater, match="no answer within"):
        await sender.send(reply(), conf, http, tokens)
    with pytest.raises(Rejected, match="chat not found") as e5:
        await sender.send(reply(), conf, http, tokens)
    assert not isinstance(e5.value, RetryLater)
    assert len(s.requests) == 5


async def test_wrong_token_and_bad_input(standin: Start, http: aiohttp.ClientSession,
                                         tokens: RedisAccessTokens) -> None:
    s = await standin(routes)
    with pytest.raises(RetryLater, match="bot_token") as e:
        await TelegramSender().send(reply(), settings(s.base, "999:wrong"), http, tokens)
    assert e.value.retry_after == 300
    with pytest.raises(Rejected, match="4096"):
        await TelegramSender().send(reply("x" * 4097), settings(s.base), http, tokens)
    with pytest.raises(Rejected, match="bot_token"):
        await TelegramSender().send(reply(), settings(s.base, ""), http, tokens)
    assert s.requests == []
