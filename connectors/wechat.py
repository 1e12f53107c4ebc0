"""WeChat Official Account (微信公众号) and WeCom (企业微信) callback messages.

Both POST an XML packet with `timestamp` and `nonce` in the query. Plain mode (Official Account
only) signs just token/timestamp/nonce — not the body — so the nonce is remembered with the
body's digest: a retry of the same packet passes, a captured signature reused with another body
is refused. Safe mode (`encoding_aes_key` set; always on for WeCom) signs the Encrypt element
with `msg_signature`; a plain packet is then refused, so nobody can downgrade to plain mode.

WeChat retries a packet three times when no answer comes within five seconds and asks that
messages be deduplicated on MsgId (events on FromUserName + CreateTime).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import msgspec
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

from deskgate.connectors.base import (
    DEFAULT_MAX_SKEW,
    BadPayload,
    Delivery,
    Nonce,
    Reply,
    SettingsError,
    WebhookRequest,
    body_digest,
    check_equal,
    check_fresh,
    clip,
    event_id,
    from_epoch,
    load_settings,
    platform_id,
    require,
)
from deskgate.connectors.media import MediaPolicy
from deskgate.connectors.send.http import check_api_base
from deskgate.connectors.wechat_crypto import aes_key, decrypt, sha1_signature
from deskgate.models.enums import Channel, IdentityKind, MessageKind
from deskgate.models.message import Attachment, Identity, InboundMessage, Sender

MAX_XML = 256 * 1024
MEDIA = MediaPolicy(hosts=("qpic.cn", "weixin.qq.com", "qq.com"), schemes=("http", "https"))
_MEDIA_TYPES = {"image": "image/jpeg", "voice": "audio/amr", "video": "video/mp4",
                "shortvideo": "video/mp4", "file": "application/octet-stream"}


WECHAT_API = "https://api.weixin.qq.com"
WECOM_API = "https://qyapi.weixin.qq.com"


class OfficialAccountSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    token: str
    app_id: str = ""                 # AppID: needed for safe mode and for answering
    encoding_aes_key: str = ""       # set = safe mode required
    max_skew: int = DEFAULT_MAX_SKEW
    skill: str = ""
    app_secret: str = ""             # outbound: AppSecret, for the access token
    api_base: str = WECHAT_API

    def __post_init__(self) -> None:
        check_api_base(self.api_base)


class WeComSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    token: str
    corp_id: str
    encoding_aes_key: str
    max_skew: int = DEFAULT_MAX_SKEW
    skill: str = ""
    kf_secret: str = ""              # 微信客服 Secret: fetch (sync_msg) and answer (send_msg)
    open_kfid: str = ""              # the 客服账号 answers go from, when the address lacks one
    api_base: str = WECOM_API
    # with a kf_secret, sync_msg is also polled this often (0: only on callbacks), so that a
    # lost callback delays a customer's message by at most this long
    kf_poll_seconds: float = 60.0

    def __post_init__(self) -> None:
        check_api_base(self.api_base)
        if self.kf_poll_seconds != 0 and not 0.1 <= self.kf_poll_seconds <= 86400:
            raise ValueError("kf_poll_seconds must be 0 (no polling) or 0.1-86400 seconds")


class Account(msgspec.Struct, frozen=True):
    """Validated settings in the form the request path needs; `source` keeps all of them for
    the outbound side (connectors/send/wechat.py, wecom.py)."""

    token: str
    receive_id: str
    key: bytes | None
    max_skew: int
    skill: str
    source: OfficialAccountSettings | WeComSettings


def parse_xml(data: bytes) -> dict[str, str]:
    """A WeChat packet: one <xml> element with flat children. The parser itself refuses any
    document type declaration or entity, whatever the declared encoding (a byte search for
    "<!DOCTYPE" misses UTF-16), so entity expansion ("billion laughs") cannot happen."""
    require(len(data) <= MAX_XML, "XML packet too large")
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise BadPayload("XML with a document type declaration or entities is not "
                         "accepted") from exc
    except (ParseError, LookupError, ValueError) as exc:  # bad or unsupported encoding
        raise BadPayload(f"malformed XML: {exc}") from exc
    require(root.tag == "xml", "the packet's root element must be <xml>")
    return {child.tag: (child.text or "").strip() for child in root}


class _WeChatBase:
    name: str
    channel: Channel
    reply_body: bytes

    def _account(self, token: str, receive_id: str, encoding_aes_key: str, max_skew: int,
                 skill: str, source: OfficialAccountSettings | WeComSettings) -> Account:
        if not token:
            raise SettingsError(f"channels.{self.name}: token is empty")
        key = aes_key(encoding_aes_key) if encoding_aes_key else None
        if key is not None and not receive_id:
            raise SettingsError(f"channels.{self.name}: safe mode needs the AppID/CorpID")
        return Account(token, receive_id, key, max_skew, skill, source)

    def handshake(self, settings: Account, request: WebhookRequest) -> Reply:
        q = request.query
        check_fresh(q.get("timestamp", ""), settings.max_skew)
        echostr = q.get("echostr", "")
        require(bool(echostr), "echostr is missing")
        if "msg_signature" in q:
            require(settings.key is not None, "msg_signature given but no encoding_aes_key set")
            check_equal(sha1_signature(settings.token, q["timestamp"], q.get("nonce", ""),
                                       echostr), q["msg_signature"])
            answer = decrypt(settings.key, settings.receive_id, echostr)  # type: ignore[arg-type]
            return Reply(200, answer)
        check_equal(sha1_signature(settings.token, q["timestamp"], q.get("nonce", "")),
                    q.get("signature", ""))
        return Reply(200, echostr.encode())

    def handle(self, account: str, settings: Account, request: WebhookRequest) -> Delivery:
        q = request.query
        timestamp, nonce = q.get("timestamp", ""), q.get("nonce", "")
        check_fresh(timestamp, settings.max_skew)
        if settings.key is not None:
            # The signature covers the Encrypt element, so the envelope must be read first;
            # the message inside is parsed only once it is proven to be Tencent's.
            encrypted = parse_xml(request.body).get("Encrypt", "")
            require(bool(encrypted), "safe mode is configured but the packet is not encrypted")
            check_equal(sha1_signature(settings.token, timestamp, nonce, encrypted),
                        q.get("msg_signature", ""))
            fields = parse_xml(decrypt(settings.key, settings.receive_id, encrypted))
        else:
            check_equal(sha1_signature(settings.token, timestamp, nonce), q.get("signature", ""))
            fields = parse_xml(request.body)
        require(bool(nonce), "nonce is missing")
        msg = to_message(self.channel, account, fields, request.received_at, settings.skill)
        return Delivery((msg,), Reply(200, self.reply_body),
                        Nonce(nonce, body_digest(request.body), 2 * settings.max_skew))


class OfficialAccountConnector(_WeChatBase):
    name = "wechat"
    settings_type = OfficialAccountSettings
    channel = Channel.WECHAT
    reply_body = b"success"     # "no passive reply", and WeChat does not retry

    def settings(self, raw: Mapping[str, Any]) -> Account:
        s = load_settings(raw, OfficialAccountSettings, "channels.wechat")
        return self._account(s.token, s.app_id, s.encoding_aes_key, s.max_skew, s.skill, s)


class WeComConnector(_WeChatBase):
    name = "wecom"
    settings_type = WeComSettings
    channel = Channel.WECOM
    reply_body = b""            # WeCom: an empty 200 means "received, no passive reply"

    def settings(self, raw: Mapping[str, Any]) -> Account:
        s = load_settings(raw, WeComSettings, "channels.wecom")
        return self._account(s.token, s.corp_id, s.encoding_aes_key, s.max_skew, s.skill, s)


def to_message(channel: Channel, account: str, f: dict[str, str], received_at: datetime,
               skill: str) -> InboundMessage:
    sender = f.get("FromUserName", "")
    msg_type = f.get("MsgType", "")
    if not sender and f.get("Event") == "kf_msg_or_event":
        # 微信客服's "messages wait" notice comes from the corp, not a customer (no
        # FromUserName); gateway/workers/wecom_sync.py fetches the messages it announces
        sender = f.get("ToUserName", "")
    require(bool(sender) and len(sender) <= 128, "FromUserName is missing or too long")
    require(bool(msg_type), "MsgType is missing")
    kind, reason, text = MessageKind.MESSAGE, "", ""
    attachments: list[Attachment] = []
    if msg_type == "text":
        text = f.get("Content", "")
    elif msg_type in _MEDIA_TYPES:
        text = f.get("Recognition", "")    # voice with recognition switched on
        media_id = f.get("MediaId", "")
        require(bool(media_id) and len(media_id) <= 256, f"{msg_type} message without MediaId")
        fmt = f.get("Format", "").lower()
        content_type = f"audio/{fmt}" if msg_type == "voice" and fmt else _MEDIA_TYPES[msg_type]
        attachments.append(Attachment(name=f.get("FileName", "")[:255] or msg_type,
                                      content_type=content_type, ref=f"{channel}-media:{media_id}"))
    elif msg_type == "location":
        text = f"[位置 location] {f.get('Label', '')} ({f.get('Location_X', '')}, " \
               f"{f.get('Location_Y', '')})"
    elif msg_type == "link":
        text = "\n".join(x for x in (f.get("Title", ""), f.get("Description", ""),
                                     f.get("Url", "")) if x)
    elif msg_type == "event":
        kind, reason = MessageKind.EVENT, f"event {f.get('Event', '')[:40]}"
    else:
        kind, reason = MessageKind.EVENT, f"unknown MsgType {msg_type[:40]}"
    msg_id = f.get("MsgId", "")
    external = msg_id or event_id(sender, f.get("CreateTime", ""), msg_type, f.get("Event", ""),
                                  f.get("EventKey", ""), *([f["Token"]] if f.get("Token") else []))
    meta = {k: f[k][:256] for k in ("Event", "EventKey", "AgentID", "Token", "OpenKfId")
            if f.get(k)}
    if f.get("PicUrl"):
        meta["PicUrl"] = MEDIA.ref(f["PicUrl"])
    return InboundMessage(
        channel=channel, account=account, external_id=external,
        sender=Sender((Identity(IdentityKind.PLATFORM, platform_id(channel, account, sender)),)),
        received_at=from_epoch(f.get("CreateTime"), received_at), text=clip(text),
        thread_key=sender, attachments=tuple(attachments), kind=kind, kind_reason=reason,
        payload_id=msg_id, skill_hint=skill, meta=meta)
