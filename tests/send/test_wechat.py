"""WeChat Official Account customer-service messages and WeCom 微信客服 send_msg against a
Tencent stand-in: tokens fetched once and cached in the real Redis, an expired token dropped
and replaced within the retry, the 48-hour window, busy/rate/refusal errcodes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from deskgate.connectors.send.base import Rejected, RetryLater, WindowClosed
from deskgate.connectors.send.wechat import OfficialAccountSender
from deskgate.connectors.send.wecom import WeComSender
from deskgate.connectors.wechat import OfficialAccountConnector, WeComConnector
from deskgate.models.enums import Channel
from deskgate.models.outbound import OutboundMessage, Recipient
from deskgate.queue.access_tokens import RedisAccessTokens
from tests.send.conftest import Scripted
from tests.send.tencent_standin import (
    APP_ID,
    APP_SECRET,
    CORP_ID,
    KF_SECRET,
    WECHAT,
    WECOM,
    Tencent,
    routes,
)

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
KFID = "wkAJ2GCAAASSm4_FhToWMFea0xAFfd3Q"
USER = "wmAJ2GCAAAme1XQRC-NI-q0_ZM9ukoAw"
Start = Callable[..., Awaitable[Any]]


def oa(base: str, secret: str = APP_SECRET) -> Any:
    return OfficialAccountConnector().settings({"token": "t" * 16, "app_id": APP_ID,
                                                "app_secret": secret, "api_base": base})


def wecom(base: str, **extra: Any) -> Any:
    return WeComConnector().settings({"token": "t" * 16, "corp_id": CORP_ID,
                                      "encoding_aes_key": AES_KEY, "kf_secret": KF_SECRET,
                                      "api_base": base} | extra)


def reply(channel: Channel, address: str, last: timedelta | None = None,
          reply_id: str = "r-0001") -> OutboundMessage:
    return OutboundMessage(reply_id=reply_id, ticket_id="T1",
                           recipient=Recipient(channel, "main", address), text="您好",
                           author="ann", created_at=datetime.now(UTC),
                           window_opened_at=None if last is None else datetime.now(UTC) - last)


async def test_official_account_sends_with_one_cached_token(
        standin: Start, http: aiohttp.ClientSession, tokens: RedisAccessTokens) -> None:
    s: Tencent = await standin(routes, Tencent)
    conf = oa(s.base)
    for _ in range(3):
        result = await OfficialAccountSender().send(reply(Channel.WECHAT, OPENID,
                                                          timedelta(hours=47)), conf, http,
                                                    tokens)
        assert result.provider_id == "wechat:r-0001"
    assert s.requests == [WECHAT["request"]] * 3
    assert s.fetches == 1


async def test_official_account_expired_token_is_replaced(
        standin: Start, http: aiohttp.ClientSession, tokens: RedisAccessTokens) -> None:
    s: Tencent = await standin(routes, Tencent)
    conf, sender = oa(s.base), OfficialAccountSender()
    await sender.send(reply(Channel.WECHAT, OPENID), conf, http, tokens)
    s.expire_all()                                   # Tencent answers 42001 from now on
    with pytest.raises(RetryLater, match="42001") as e:
        await sender.send(reply(Channel.WECHAT, OPENID), conf, http, tokens)
    assert e.value.retry_after == 0                  # retry at once: with a new token
    await sender.send(reply(Channel.WECHAT, OPENID), conf, http, tokens)
    assert s.fetches == 2 and len(s.requests) == 2


async def test_official_account_window_and_errors(
        standin: Start, http: aiohttp.ClientSession, tokens: RedisAccessTokens) -> None:
    s: Tencent = await standin(routes, Tencent)
    conf, sender = oa(s.base), OfficialAccountSender()
    with pytest.raises(WindowClosed, match="48 hours"):
        await sender.send(reply(Channel.WECHAT, OPENID, timedelta(hours=49)), conf, http,
                          tokens)
    assert s.fetches == 0 and s.requests == []
    s.answer_next(Scripted(body=WECHAT["out_of_time"]), Scripted(body=WECHAT["busy"]),
                  Scripted(body=WECHAT["freq"]), Scripted(body=WECHAT["bad_openid"]),
                  Scripted(500, b"oops"))
    with pytest.raises(WindowClosed, match="45015"):
        await sender.send(reply(Channel.WECHAT, OPENID), conf, http, tokens)
    with pytest.raises(RetryLater, match="-1"):
        await sender.send(reply(Channel.WECHAT, OPENID), conf, http, tokens)
    with pytest.raises(RetryLater, match="45009") as e:
        await sender.send(reply(Channel.WECHAT, OPENID), conf, http, tokens)
    assert e.value.retry_after == 60
    with pytest.raises(Rejected, match="invalid openid"):
        await sender.send(reply(Channel.WECHAT, OPENID), conf, http, tokens)
    with pytest.raises(RetryLater, match="500"):
        await sender.send(reply(Channel.WECHAT, OPENID), conf, http, tokens)


async def test_official_account_wrong_secret_waits_for_an_admin(
        standin: Start, http: aiohttp.ClientSession, tokens: RedisAccessTokens) -> None:
    s: Tencent = await standin(routes, Tencent)
    with pytest.raises(RetryLater, match="40125") as e:
        await OfficialAccountSender().send(reply(Channel.WECHAT, OPENID),
                                           oa(s.base, "wrong-secret"), http, tokens)
    assert e.value.retry_after == 300 and s.requests == []


async def test_wecom_send_msg_from_the_customers_kf_account(
        standin: Start, http: aiohttp.ClientSession, tokens: RedisAccessTokens) -> None:
    s: Tencent = await standin(routes, Tencent)
    conf, sender = wecom(s.base), WeComSender()
    result = await sender.send(reply(Channel.WECOM, f"{KFID}:{USER}", reply_id="r.1/ä-9"),
                               conf, http, tokens)
    assert result.provider_id == "r1-9"              # msgid: [0-9A-Za-z_-], at most 32
    assert s.requests == [WECOM["send_request"] | {"msgid": "r1-9"}]
    # a bare external_userid goes from the account's own open_kfid; none set: refused
    with pytest.raises(Rejected, match="open_kfid"):
        await sender.send(reply(Channel.WECOM, USER), conf, http, tokens)
    await sender.send(reply(Channel.WECOM, USER), wecom(s.base, open_kfid=KFID), http, tokens)
    assert s.requests[-1]["open_kfid"] == KFID


async def test_wecom_expired_token_limit_and_window(
        standin: Start, http: aiohttp.ClientSession, tokens: RedisAccessTokens) -> None:
    s: Tencent = await standin(routes, Tencent)
    conf, sender = wecom(s.base), WeComSender()
    await sender.send(reply(Channel.WECOM, f"{KFID}:{USER}"), conf, http, tokens)
    s.expire_all()
    with pytest.raises(RetryLater, match="40014"):
        await sender.send(reply(Channel.WECOM, f"{KFID}:{USER}"), conf, http, tokens)
    await sender.send(reply(Channel.WECOM, f"{KFID}:{USER}"), conf, http, tokens)
    assert s.fetches == 2
    s.answer_next(Scripted(body=WECOM["limit_reached"]))
    with pytest.raises(WindowClosed, match="95001"):
        await sender.send(reply(Channel.WECOM, f"{KFID}:{USER}"), conf, http, tokens)
    with pytest.raises(WindowClosed, match="48 hours"):
        await sender.send(reply(Channel.WECOM, f"{KFID}:{USER}", timedelta(days=3)), conf,
                          http, tokens)
    with pytest.raises(Rejected, match="kf_secret"):
        await sender.send(reply(Channel.WECOM, f"{KFID}:{USER}"), wecom(s.base, kf_secret=""),
                          http, tokens)
