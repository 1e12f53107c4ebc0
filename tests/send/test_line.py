"""LINE reply/push against a stand-in that keeps LINE's rules: a reply token works once, a
push needs a UUID X-Line-Retry-Key and executes once per key (a repeat answers 409 with
x-line-accepted-request-id), the bearer token is checked."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from deskgate.connectors.line import LineConnector
from deskgate.connectors.send.base import Rejected, RetryLater
from deskgate.connectors.send.line import LineSender, retry_key
from deskgate.models.enums import Channel
from deskgate.models.outbound import OutboundMessage, Recipient
from deskgate.queue.access_tokens import RedisAccessTokens
from tests.send.conftest import STALL, Scripted, StandIn, doc, refuse, same_shape

DOC = doc("line", "messages.json")
TOKEN = "line-channel-access-token-0123456789"
USER = "U4af4980629a1b2c3d4e5f60718293a4b"
REPLY_TOKEN = "38ef843bde154d9b91c21320ffd17a0f"
Start = Callable[..., Awaitable[Any]]


class Line(StandIn):
    def __init__(self) -> None:
        super().__init__()
        self.reply_tokens = {REPLY_TOKEN}
        self.accepted: dict[str, str] = {}      # retry key -> request id
        self.delivered: list[dict[str, Any]] = []
        self.conflicts = 0
        self.default = Scripted(body=DOC["ok"])


def routes(s: StandIn) -> None:
    assert isinstance(s, Line)

    async def reply(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response(DOC["unauthorized"], status=401)
        if "X-Line-Retry-Key" in request.headers:
            return refuse(400, "the reply API takes no retry key")
        body = await request.json()
        why = same_shape(body, DOC["reply_request"])
        if why:
            return refuse(400, why)
        if body["replyToken"] not in s.reply_tokens:
            return web.json_response(DOC["invalid_reply_token"], status=400)
        s.reply_tokens.discard(body["replyToken"])
        s.delivered.append(body)
        return await s.reply(body)

    async def push(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response(DOC["unauthorized"], status=401)
        key = request.headers.get("X-Line-Retry-Key", "")
        try:
            uuid.UUID(key)
        except ValueError:
            return refuse(400, f"retry key {key!r} is not a UUID")
        body = await request.json()
        why = same_shape(body, DOC["push_request"])
        if why:
            return refuse(400, why)
        if key in s.accepted:
            s.conflicts += 1
            return web.json_response(DOC["retry_key_accepted"], status=409, headers={
                "x-line-accepted-request-id": s.accepted[key]})
        coming = s.script[0] if s.script else s.default
        if coming.stall or coming.status == 200:    # LINE executes it, whether or not
            s.accepted[key] = str(uuid.uuid4())     # its answer reaches the client
            s.delivered.append(body)
        return await s.reply(body)

    s.app.router.add_post("/v2/bot/message/reply", reply)
    s.app.router.add_post("/v2/bot/message/push", push)


def settings(base: str, token: str = TOKEN) -> Any:
    return LineConnector().settings({"channel_secret": "8c570fa6dd201bb328f1c1eac23a96d8",
                                     "channel_access_token": token, "api_base": base})


def message(reply_id: str = "r-1", token: str = "", age: timedelta | None = None) -> Any:
    return OutboundMessage(reply_id=reply_id, ticket_id="T1",
                           recipient=Recipient(Channel.LINE, "oa", USER), text="您好",
                           author="auto", created_at=datetime.now(UTC), in_reply_to=token,
                           window_opened_at=None if age is None else datetime.now(UTC) - age)


async def test_fresh_reply_token_is_used_once_then_push(standin: Start,
                                                        http: aiohttp.ClientSession,
                                                        tokens: RedisAccessTokens) -> None:
    s: Line = await standin(routes, Line)
    sender, conf = LineSender(), settings(s.base)
    await sender.send(message("r-1", REPLY_TOKEN, timedelta(seconds=5)), conf, http, tokens)
    assert s.delivered == [DOC["reply_request"]]
    # the token is spent: LINE says "Invalid reply token", the answer is pushed instead
    await sender.send(message("r-2", REPLY_TOKEN, timedelta(seconds=5)), conf, http, tokens)
    # an old token is not even tried
    await sender.send(message("r-3", "other-token", timedelta(minutes=5)), conf, http, tokens)
    # a LINE message id where a token should be is not tried either
    await sender.send(message("r-4", "468789577898262530", timedelta(seconds=5)), conf, http,
                      tokens)
    assert s.delivered[1:] == [DOC["push_request"]] * 3
    assert len(s.requests) == 4


async def test_push_retry_after_a_lost_answer_sends_once(standin: Start,
                                                         http: aiohttp.ClientSession,
                                                         tokens: RedisAccessTokens) -> None:
    s: Line = await standin(routes, Line)
    sender, conf = LineSender(), settings(s.base)
    s.answer_next(STALL)          # LINE accepts, but the answer never reaches us
    with pytest.raises(RetryLater, match="no answer"):
        await sender.send(message("r-9"), conf, http, tokens)
    result = await sender.send(message("r-9"), conf, http, tokens)       # the retry
    assert result.provider_id == DOC["retry_key_accepted"]["sentMessages"][0]["id"]
    assert s.delivered == [DOC["push_request"]]                          # once
    assert s.conflicts == 1 and len(s.requests) == 1       # the retry got LINE's 409
    assert list(s.accepted) == [retry_key("r-9")]
    assert retry_key("r-9") == retry_key("r-9") != retry_key("r-10")
    u = str(uuid.uuid4())
    assert retry_key(u) == u


async def test_errors(standin: Start, http: aiohttp.ClientSession,
                      tokens: RedisAccessTokens) -> None:
    s: Line = await standin(routes, Line)
    sender, conf = LineSender(), settings(s.base)
    s.answer_next(Scripted(429, DOC["rate_limit"], {"Retry-After": "3"}),
                  Scripted(429, DOC["monthly_limit"]), Scripted(500, b"{}"),
                  Scripted(400, DOC["bad_to"]))
    with pytest.raises(RetryLater) as e:
        await sender.send(message("a"), conf, http, tokens)
    assert e.value.retry_after == 3
    with pytest.raises(Rejected, match="monthly") as e2:
        await sender.send(message("b"), conf, http, tokens)
    assert not isinstance(e2.value, RetryLater)
    with pytest.raises(RetryLater, match="500"):
        await sender.send(message("c"), conf, http, tokens)
    with pytest.raises(Rejected, match="1 error"):
        await sender.send(message("d"), conf, http, tokens)
    with pytest.raises(RetryLater, match="channel_access_token") as e3:
        await sender.send(message("e"), settings(s.base, "wrong"), http, tokens)
    assert e3.value.retry_after == 300
    assert s.delivered == []
