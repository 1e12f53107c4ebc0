"""WeCom 微信客服 (WeChat Customer Service in WeCom): answer with kf/send_msg, and fetch the
customer's messages with kf/sync_msg — the kf_msg_or_event callback carries only a short-lived
Token saying that there is something to fetch.

- access token: GET {api_base}/cgi-bin/gettoken?corpid=&corpsecret=<the 微信客服 Secret>
  (https://developer.work.weixin.qq.com/document/path/91039), cached in Redis per corp+secret;
- send: POST /cgi-bin/kf/send_msg {"touser": external_userid, "open_kfid", "msgid",
  "msgtype": "text", "text": {"content"}} → {"errcode": 0, "msgid"}
  (https://developer.work.weixin.qq.com/document/path/94677). A customer's message opens 48
  hours in which at most 5 answers may go; errcode 95001 says they are used up. `msgid` is the
  reply id (WeCom echoes it and it names the message), but WeCom does not document refusing a
  repeated msgid, so a retry after a lost answer may send once more;
- fetch: POST /cgi-bin/kf/sync_msg {"cursor", "token", "limit", "open_kfid"} →
  {"next_cursor", "has_more", "msg_list"} (https://developer.work.weixin.qq.com/document/path/94670).
Errcodes 40014/42001 = access token invalid/expired (dropped, retried with a new one),
-1 = busy, 45009/45033 = rate limits (https://developer.work.weixin.qq.com/document/path/90313).

Files: uploaded as temporary media, POST /cgi-bin/media/upload?type=image|voice|video|file
(multipart field `media`; image 10 MB, voice AMR 2 MB, video MP4 10 MB, file 20 MB; the
media_id lives 3 days, https://developer.work.weixin.qq.com/document/path/90253), then sent
after the text as send_msg msgtype image/voice/video/file {"media_id"}, msgid "<reply>-f<i>".
Every file is one of the 5 answers the customer's message allows. The media id and each part
are recorded per reply: a retry neither uploads nor sends what went.

A recipient's address is "<open_kfid>:<external_userid>" (what sync_msg gives, so the answer
goes from the 客服账号 the customer wrote to) or a bare external_userid with the account's
open_kfid.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable

import aiohttp
import msgspec

from deskgate.connectors.send.base import (
    AccessTokens,
    Files,
    Rejected,
    WindowClosed,
    check,
    send_parts,
)
from deskgate.connectors.send.http import MAX_RESPONSE, Answer
from deskgate.connectors.send.wechat import Codes, Result, call, fetcher, send_media
from deskgate.connectors.send.window import window_open
from deskgate.connectors.wechat import Account, WeComSettings
from deskgate.models.delivery import MediaKind
from deskgate.models.enums import Channel
from deskgate.models.outbound import OutboundAttachment, OutboundMessage, SendResult

WINDOW_HOURS = 48
SYNC_LIMIT = 100             # messages per sync_msg page (WeCom allows 1,000) ...
SYNC_MAX_BYTES = 8 * 1024 * 1024   # ... so a page of long texts stays within this
MAX_TEXT = 2048              # send_msg's text limit, in bytes
_MSGID = re.compile(r"[^0-9A-Za-z_-]")

KF = Codes(expired=frozenset({40014, 42001}), window=frozenset({95001}),
           busy=frozenset({-1}), rate=frozenset({45009, 45033}))


class KfSettings(msgspec.Struct, frozen=True):
    corp_id: str
    kf_secret: str
    open_kfid: str
    api_base: str


def kf_settings(settings: Account) -> KfSettings:
    s = settings.source
    assert isinstance(s, WeComSettings)
    if not s.kf_secret:
        raise Rejected("this WeCom account has no kf_secret (the 微信客服 Secret): set it in "
                       "the channel settings to fetch and answer 微信客服 messages")
    return KfSettings(s.corp_id, s.kf_secret, s.open_kfid, s.api_base)


def _token_key(s: KfSettings) -> str:
    # WeCom tokens belong to one corp + secret; the hash keeps the secret out of key names
    return f"wecom:{s.corp_id}:{hashlib.sha256(s.kf_secret.encode()).hexdigest()[:16]}"


def _fetcher(s: KfSettings, http: aiohttp.ClientSession) -> Callable[[], Awaitable[tuple[str, int]]]:
    return fetcher(http, f"{s.api_base}/cgi-bin/gettoken",
                   {"corpid": s.corp_id, "corpsecret": s.kf_secret}, "WeCom access token")


async def _call(s: KfSettings, http: aiohttp.ClientSession, tokens: AccessTokens, path: str,
                body: dict[str, object], what: str, max_bytes: int = MAX_RESPONSE) -> Answer:
    return await call(http, tokens, _token_key(s), _fetcher(s, http), f"{s.api_base}{path}",
                      body, what, KF, max_bytes)


class WeComSender:
    channel = Channel.WECOM
    name = "wecom"

    async def send(self, message: OutboundMessage, settings: Account,
                   http: aiohttp.ClientSession, tokens: AccessTokens,
                   files: Files | None = None) -> SendResult:
        s = kf_settings(settings)
        kfid, _, user = message.recipient.address.rpartition(":")
        kfid = kfid or s.open_kfid
        if not kfid:
            raise Rejected("no 客服账号 to answer from: the address has no open_kfid and the "
                           "account sets none")
        kinds = check(message, "WeCom", MAX_TEXT, in_bytes=True)
        if window_open(message, WINDOW_HOURS) is False:
            raise WindowClosed("WeCom 微信客服: the customer last wrote more than 48 hours ago; "
                               "they must write again before an answer can reach them")
        msgid = _MSGID.sub("", message.reply_id)[:28]
        what = "WeCom 微信客服 send_msg"

        async def send(part_id: str, msgtype: str, content: dict[str, str]) -> str:
            answer = await _call(s, http, tokens, "/cgi-bin/kf/send_msg",
                                 {"touser": user, "open_kfid": kfid, "msgid": part_id,
                                  "msgtype": msgtype, msgtype: content}, what)
            return answer.json(Result, what).msgid or part_id

        async def text() -> str:
            return await send(msgid, "text", {"content": message.text})

        async def send_file(i: int, a: OutboundAttachment, kind: MediaKind) -> str:
            assert files is not None
            media = await send_media(http, tokens, _token_key(s), _fetcher(s, http), s.api_base,
                                     files, message, i, kind, KF, "WeCom")
            return await send(f"{msgid}-f{i}", kind.kind, {"media_id": media})

        return await send_parts(message, files, kinds, text if message.text else None,
                                send_file)


class SyncedText(msgspec.Struct, frozen=True):
    content: str = ""


class SyncedMedia(msgspec.Struct, frozen=True):
    media_id: str = ""


class SyncedLocation(msgspec.Struct, frozen=True):
    latitude: float = 0.0
    longitude: float = 0.0
    name: str = ""
    address: str = ""


class SyncedEvent(msgspec.Struct, frozen=True):
    event_type: str = ""


class SyncedMessage(msgspec.Struct, frozen=True):
    msgid: str
    open_kfid: str = ""
    external_userid: str = ""
    send_time: int = 0
    origin: int = 0                  # 3 customer, 4 system event, 5 our 接待人员
    msgtype: str = ""
    text: SyncedText | None = None
    image: SyncedMedia | None = None
    voice: SyncedMedia | None = None
    video: SyncedMedia | None = None
    file: SyncedMedia | None = None
    location: SyncedLocation | None = None
    event: SyncedEvent | None = None


class SyncPage(msgspec.Struct, frozen=True):
    errcode: int = 0
    errmsg: str = ""
    next_cursor: str = ""
    has_more: int = 0
    msg_list: tuple[SyncedMessage, ...] = ()


async def sync_page(settings: Account, http: aiohttp.ClientSession, tokens: AccessTokens, *,
                    cursor: str, callback_token: str, open_kfid: str) -> SyncPage:
    """One page of kf/sync_msg from `cursor` ("" = the oldest of the last 3 days)."""
    s = kf_settings(settings)
    body: dict[str, object] = {"limit": SYNC_LIMIT, "voice_format": 0}
    for name, value in (("cursor", cursor), ("token", callback_token),
                        ("open_kfid", open_kfid or s.open_kfid)):
        if value:
            body[name] = value
    what = "WeCom 微信客服 sync_msg"
    answer = await _call(s, http, tokens, "/cgi-bin/kf/sync_msg", body, what, SYNC_MAX_BYTES)
    return answer.json(SyncPage, what)
