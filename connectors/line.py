"""LINE Messaging API webhooks (https://developers.line.biz/en/reference/messaging-api/#webhooks).

Every POST carries {"destination", "events": [...]} and `X-Line-Signature` = base64
HMAC-SHA256 of the raw body with the channel secret
(https://developers.line.biz/en/docs/messaging-api/receiving-messages/#verifying-signatures).
The console's "Verify" button sends an empty events list: answered 200, nothing stored.

A user's message (text, media, location, sticker) becomes a MESSAGE keyed on its message id,
keeping the replyToken in meta["reply_token"] (an answer may use it once, shortly after:
connectors/send/line.py); follow/unfollow/postback/join/… are EVENTs keyed on
webhookEventId, which a redelivery (deliveryContext.isRedelivery) repeats. Media is referenced
by message id (its content is fetched, if ever, from the content API), never a URL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

import msgspec

from deskgate.connectors.base import (
    MAX_ATTACHMENTS,
    Delivery,
    Reply,
    Unauthorized,
    WebhookRequest,
    clip,
    decode_json,
    event_id,
    from_epoch,
    load_settings,
    no_handshake,
    platform_id,
)
from deskgate.connectors.send.http import check_api_base
from deskgate.models.enums import Channel, IdentityKind, MessageKind
from deskgate.models.message import Attachment, Identity, InboundMessage, Sender

SIGNATURE_HEADER = "X-Line-Signature"
LINE_API = "https://api.line.me"
_MEDIA = {"image": "image/jpeg", "video": "video/mp4", "audio": "audio/m4a",
          "file": "application/octet-stream"}


class LineSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    channel_secret: str
    skill: str = ""
    channel_access_token: str = ""    # outbound: the long-lived channel access token
    api_base: str = LINE_API

    def __post_init__(self) -> None:
        if len(self.channel_secret) < 16:
            raise ValueError("channel_secret looks wrong (LINE's are 32 hex characters)")
        check_api_base(self.api_base)


class Source(msgspec.Struct, frozen=True, rename="camel"):
    type: str = "user"
    user_id: str = ""
    group_id: str = ""
    room_id: str = ""


class Message(msgspec.Struct, frozen=True, rename="camel"):
    id: str
    type: str = "text"
    text: str = ""
    file_name: str = ""
    title: str = ""
    address: str = ""
    latitude: float = 0.0
    longitude: float = 0.0
    package_id: str = ""
    sticker_id: str = ""


class Postback(msgspec.Struct, frozen=True, rename="camel"):
    data: str = ""


class DeliveryContext(msgspec.Struct, frozen=True, rename="camel"):
    is_redelivery: bool = False


class Event(msgspec.Struct, frozen=True, rename="camel"):
    type: str
    timestamp: int = 0
    source: Source | None = None
    webhook_event_id: str = ""
    reply_token: str = ""
    mode: str = "active"
    message: Message | None = None
    postback: Postback | None = None
    delivery_context: DeliveryContext | None = None


class Envelope(msgspec.Struct, frozen=True, rename="camel"):
    events: tuple[msgspec.Raw, ...]
    destination: str = ""


def signature(channel_secret: str, body: bytes) -> str:
    digest = hmac.new(channel_secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class LineConnector:
    name = "line"
    settings_type = LineSettings

    def settings(self, raw: Mapping[str, Any]) -> LineSettings:
        return load_settings(raw, LineSettings, "channels.line")

    def handshake(self, settings: LineSettings, request: WebhookRequest) -> Reply:
        return no_handshake(request)

    def handle(self, account: str, settings: LineSettings,
               request: WebhookRequest) -> Delivery:
        given = request.header(SIGNATURE_HEADER)
        if not given:
            raise Unauthorized("missing_signature", "X-Line-Signature is missing", status=401)
        if not hmac.compare_digest(signature(settings.channel_secret, request.body).encode(),
                                   given.encode()):
            raise Unauthorized("bad_signature", "the signature does not match")
        env = decode_json(request.body, Envelope, "a LINE webhook body")
        out = [_one(account, settings, decode_json(raw, Event, "a LINE webhook event"), raw,
                    request) for raw in env.events]
        return Delivery(tuple(out), Reply(200))


def _one(account: str, settings: LineSettings, e: Event, raw: msgspec.Raw,
         request: WebhookRequest) -> InboundMessage:
    src = e.source or Source()
    user = src.user_id[:64] or "unknown"
    thread = (src.group_id or src.room_id or src.user_id)[:64] or "unknown"
    received = from_epoch(e.timestamp, request.received_at)
    sender = Sender((Identity(IdentityKind.PLATFORM, platform_id(Channel.LINE, account, user)),))
    meta = {"source": src.type[:20]}
    if e.reply_token:
        meta["reply_token"] = e.reply_token[:256]
    if e.delivery_context is not None and e.delivery_context.is_redelivery:
        meta["redelivery"] = "true"
    event_key = e.webhook_event_id[:64] or event_id(Channel.LINE, account, bytes(raw))
    m = e.message
    if e.type != "message" or m is None:
        if e.postback is not None:
            meta["postback"] = e.postback.data[:256]
        return InboundMessage(channel=Channel.LINE, account=account, external_id=event_key,
                              sender=sender, received_at=received, thread_key=thread,
                              kind=MessageKind.EVENT, kind_reason=f"event {e.type[:40]}",
                              payload_id=e.webhook_event_id[:64], meta=meta)
    kind, reason, text = MessageKind.MESSAGE, "", ""
    attachments: list[Attachment] = []
    if m.type == "text":
        text = m.text
    elif m.type in _MEDIA:
        attachments.append(Attachment(name=m.file_name[:255] or m.type,
                                      content_type=_MEDIA[m.type],
                                      ref=f"line-content:{m.id[:64]}"))
    elif m.type == "location":
        text = f"[location] {m.title} {m.address} ({m.latitude}, {m.longitude})".strip()
    elif m.type == "sticker":
        text = f"[sticker] {m.package_id[:20]}/{m.sticker_id[:20]}"
    else:
        kind, reason = MessageKind.EVENT, f"message type {m.type[:40]}"
    return InboundMessage(
        channel=Channel.LINE, account=account, external_id=m.id[:64], sender=sender,
        received_at=received, text=clip(text), thread_key=thread,
        attachments=tuple(attachments[:MAX_ATTACHMENTS]), kind=kind, kind_reason=reason,
        payload_id=e.webhook_event_id[:64], skill_hint=settings.skill, meta=meta)
