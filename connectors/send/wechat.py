"""WeChat Official Account customer-service messages (客服消息): POST
{api_base}/cgi-bin/message/custom/send?access_token=… with {"touser": openid, "msgtype": "text",
"text": {"content": …}}
(https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Service_Center_messages.html),
with the access token from GET /cgi-bin/token?grant_type=client_credential&appid=&secret=
(https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/Get_access_token.html),
cached in Redis (queue/access_tokens.py) because every fetch invalidates the previous token and
counts against a daily quota.

Tencent answers HTTP 200 with {"errcode", "errmsg"} whatever happened
(https://developers.weixin.qq.com/doc/offiaccount/Getting_Started/Global_Return_Code.html):
40001/42001/40014 = the access token is invalid or expired (dropped, then retried with a new
one), 45015 = the customer last wrote more than 48 hours ago, 45047 = the 20 answers allowed
until the customer writes again are used up (both WindowClosed), -1 = busy, 45009/45011 =
rate limits (retry). The API answers no message id and takes no idempotency key: a retry after
a lost answer may send once more. The WeCom 微信客服 sender (wecom.py) shares this shape.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

import aiohttp
import msgspec

from deskgate.connectors.send.base import (
    AccessTokens,
    Rejected,
    RetryLater,
    WindowClosed,
    text_only,
)
from deskgate.connectors.send.http import MAX_RESPONSE, Answer, reason, request, token
from deskgate.connectors.send.window import window_open
from deskgate.connectors.wechat import Account, OfficialAccountSettings
from deskgate.models.enums import Channel
from deskgate.models.outbound import OutboundMessage, SendResult

ADMIN_WAIT = 300.0
RATE_WAIT = 60.0
WINDOW_HOURS = 48


class Result(msgspec.Struct, frozen=True):
    errcode: int = 0
    errmsg: str = ""
    access_token: str = ""
    expires_in: int = 0
    msgid: str = ""


class Codes(msgspec.Struct, frozen=True):
    """How one Tencent API family's errcodes read."""

    expired: frozenset[int]
    window: frozenset[int]
    busy: frozenset[int]
    rate: frozenset[int]


OFFICIAL_ACCOUNT = Codes(expired=frozenset({40001, 40014, 42001}),
                         window=frozenset({45015, 45047}),
                         busy=frozenset({-1}), rate=frozenset({45009, 45011}))


def fetcher(http: aiohttp.ClientSession, url: str, params: Mapping[str, str],
            what: str) -> Callable[[], Awaitable[tuple[str, int]]]:
    """The token fetch: GET url?params → {access_token, expires_in} or an errcode that only an
    admin can fix (a wrong secret, a server IP not on the allow-list) unless Tencent is busy."""
    async def fetch() -> tuple[str, int]:
        answer = await request(http, "GET", url, params=params, what=what)
        got = answer.json(Result, what)
        if got.errcode == 0 and got.access_token:
            return got.access_token, got.expires_in
        text = f"{reason(got.errmsg)} (errcode {got.errcode})"
        if got.errcode == -1:
            raise RetryLater(f"{what}: {text}")
        raise RetryLater(f"{what} refused: {text}; check the account's id, secret and the "
                         "server IP allow-list", ADMIN_WAIT)
    return fetch


async def call(http: aiohttp.ClientSession, tokens: AccessTokens, key: str,
               fetch: Callable[[], Awaitable[tuple[str, int]]], url: str,
               body: dict[str, object], what: str, codes: Codes,
               max_bytes: int = MAX_RESPONSE) -> Answer:
    """POST body with the cached access token; errcodes mapped as `codes` says. Returns the
    answer of a call that succeeded (errcode 0), for the caller to read its own fields."""
    access = await token(tokens, key, fetch)
    answer = await request(http, "POST", url, params={"access_token": access}, json=body,
                           what=what, max_bytes=max_bytes)
    if answer.status != 200:
        raise Rejected(f"{what}: HTTP {answer.status} {answer.text()}")
    got = answer.json(Result, what)
    if got.errcode == 0:
        return answer
    text = f"{reason(got.errmsg)} (errcode {got.errcode})"
    if got.errcode in codes.expired:
        await tokens.invalidate(key, access)
        raise RetryLater(f"{what}: the access token expired: {text}", 0)
    if got.errcode in codes.window:
        raise WindowClosed(f"{what}: the customer must write again first: {text}")
    if got.errcode in codes.busy:
        raise RetryLater(f"{what}: {text}")
    if got.errcode in codes.rate:
        raise RetryLater(f"{what}: rate limited: {text}", RATE_WAIT)
    raise Rejected(f"{what}: {text}")


class OfficialAccountSender:
    channel = Channel.WECHAT
    name = "wechat"

    async def send(self, message: OutboundMessage, settings: Account,
                   http: aiohttp.ClientSession, tokens: AccessTokens) -> SendResult:
        s = settings.source
        assert isinstance(s, OfficialAccountSettings)
        if not s.app_id or not s.app_secret:
            raise Rejected("this WeChat account has no app_id or app_secret: set both in the "
                           "channel settings to answer customers")
        text_only(message, "WeChat", None)
        if window_open(message, WINDOW_HOURS) is False:
            raise WindowClosed("WeChat: the customer last wrote more than 48 hours ago; they "
                               "must write again before an answer can reach them")
        fetch = fetcher(http, f"{s.api_base}/cgi-bin/token", {
            "grant_type": "client_credential", "appid": s.app_id, "secret": s.app_secret},
            "WeChat access token")
        await call(http, tokens, f"wechat:{s.app_id}", fetch,
                   f"{s.api_base}/cgi-bin/message/custom/send",
                   {"touser": message.recipient.address, "msgtype": "text",
                    "text": {"content": message.text}},
                   "WeChat customer-service message", OFFICIAL_ACCOUNT)
        # no message id comes back; ours names it on the thread
        return SendResult(f"wechat:{message.reply_id}")
