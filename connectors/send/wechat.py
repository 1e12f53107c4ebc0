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

Files: uploaded as temporary media, POST /cgi-bin/media/upload?type=image|voice (multipart
field `media`; images 10 MB, voice AMR/MP3 2 MB; the media_id lives 3 days,
https://developers.weixin.qq.com/doc/service/api/material/temporary/api_uploadtempmedia),
then sent after the text as msgtype image/voice {"media_id"}. The media id and each part are
recorded per reply: a retry neither uploads nor sends what went. Customer-service messages
take no documents.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

import aiohttp
import msgspec

from deskgate.connectors.send.base import (
    AccessTokens,
    Files,
    Rejected,
    RetryLater,
    WindowClosed,
    check,
    media_id,
    send_parts,
)
from deskgate.connectors.send.http import MAX_RESPONSE, Answer, reason, request, token, upload_form
from deskgate.connectors.send.window import window_open
from deskgate.connectors.wechat import Account, OfficialAccountSettings
from deskgate.models.delivery import MediaKind
from deskgate.models.enums import Channel
from deskgate.models.outbound import OutboundAttachment, OutboundMessage, SendResult

ADMIN_WAIT = 300.0
RATE_WAIT = 60.0
WINDOW_HOURS = 48


class Result(msgspec.Struct, frozen=True):
    errcode: int = 0
    errmsg: str = ""
    access_token: str = ""
    expires_in: int = 0
    msgid: str = ""
    media_id: str = ""


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
               body: dict[str, object] | aiohttp.FormData, what: str, codes: Codes,
               max_bytes: int = MAX_RESPONSE, params: Mapping[str, str] | None = None) -> Answer:
    """POST body (JSON, or a multipart upload) with the cached access token; errcodes mapped as
    `codes` says. Returns the answer of a call that succeeded (errcode 0), for the caller to
    read its own fields."""
    access = await token(tokens, key, fetch)
    json, data = (None, body) if isinstance(body, aiohttp.FormData) else (body, None)
    answer = await request(http, "POST", url, params={**(params or {}), "access_token": access},
                           json=json, data=data, what=what, max_bytes=max_bytes)
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


async def send_media(http: aiohttp.ClientSession, tokens: AccessTokens, key: str,
                     fetch: Callable[[], Awaitable[tuple[str, int]]], api_base: str,
                     files: Files, message: OutboundMessage, index: int, kind: MediaKind,
                     codes: Codes, what: str) -> str:
    """Upload file `index` as temporary media (once per reply) and return its media_id."""
    a = message.attachments[index]

    async def upload(data: bytes) -> str:
        answer = await call(http, tokens, key, fetch, f"{api_base}/cgi-bin/media/upload",
                            upload_form({}, "media", a.name, a.content_type, data),
                            f"{what} media upload", codes, params={"type": kind.kind})
        got = answer.json(Result, f"{what} media upload")
        if not got.media_id:
            raise RetryLater(f"{what} media upload: answered without a media_id")
        return got.media_id
    return await media_id(files, message, index, upload)


class OfficialAccountSender:
    channel = Channel.WECHAT
    name = "wechat"

    async def send(self, message: OutboundMessage, settings: Account,
                   http: aiohttp.ClientSession, tokens: AccessTokens,
                   files: Files | None = None) -> SendResult:
        s = settings.source
        assert isinstance(s, OfficialAccountSettings)
        if not s.app_id or not s.app_secret:
            raise Rejected("this WeChat account has no app_id or app_secret: set both in the "
                           "channel settings to answer customers")
        kinds = check(message, "WeChat", None)
        if window_open(message, WINDOW_HOURS) is False:
            raise WindowClosed("WeChat: the customer last wrote more than 48 hours ago; they "
                               "must write again before an answer can reach them")
        fetch = fetcher(http, f"{s.api_base}/cgi-bin/token", {
            "grant_type": "client_credential", "appid": s.app_id, "secret": s.app_secret},
            "WeChat access token")
        key, what = f"wechat:{s.app_id}", "WeChat customer-service message"
        url = f"{s.api_base}/cgi-bin/message/custom/send"
        to = message.recipient.address

        async def text() -> str:
            await call(http, tokens, key, fetch, url, {"touser": to, "msgtype": "text",
                                                       "text": {"content": message.text}},
                       what, OFFICIAL_ACCOUNT)
            # no message id comes back; ours names it on the thread
            return f"wechat:{message.reply_id}"

        async def send_file(i: int, a: OutboundAttachment, kind: MediaKind) -> str:
            assert files is not None
            media = await send_media(http, tokens, key, fetch, s.api_base, files, message, i,
                                     kind, OFFICIAL_ACCOUNT, "WeChat")
            await call(http, tokens, key, fetch, url,
                       {"touser": to, "msgtype": kind.kind, kind.kind: {"media_id": media}},
                       what, OFFICIAL_ACCOUNT)
            return f"wechat:{message.reply_id}:{i}"

        return await send_parts(message, files, kinds, text if message.text else None,
                                send_file)
