"""Telegram Bot API webhooks: one `Update` per POST, authenticated by the secret_token given
to setWebhook, which Telegram echoes in `X-Telegram-Bot-Api-Secret-Token`.

message / edited_message (text, or the caption of a photo/document/…) become MESSAGEs keyed on
update_id (Telegram redelivers the same update until it gets a 2xx). Every other update type
(callback queries, membership changes, polls, …) is an EVENT. A contact the user shares about
themself adds their phone as an identity.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from deskgate.connectors.base import (
    Delivery,
    Reply,
    WebhookRequest,
    check_equal,
    clip,
    decode_json,
    from_epoch,
    load_settings,
    no_handshake,
    platform_id,
)
from deskgate.connectors.send.http import check_api_base
from deskgate.models.enums import Channel, IdentityKind, MessageKind
from deskgate.models.message import Attachment, Identity, InboundMessage, Sender
from deskgate.models.phone import normalize_phone

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


TELEGRAM_API = "https://api.telegram.org"


class TelegramSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    secret_token: str
    default_region: str = "CN"
    skill: str = ""
    bot_token: str = ""              # outbound: the token BotFather gave (connectors/send)
    api_base: str = TELEGRAM_API

    def __post_init__(self) -> None:
        check_api_base(self.api_base)
        # Telegram's own limits for secret_token: 1-256 of A-Z a-z 0-9 _ -
        if not 16 <= len(self.secret_token) <= 256 or not all(
                c.isascii() and (c.isalnum() or c in "_-") for c in self.secret_token):
            raise ValueError("secret_token must be 16-256 characters of A-Z a-z 0-9 _ -")


class User(msgspec.Struct, frozen=True):
    id: int
    first_name: str = ""
    last_name: str = ""
    username: str = ""


class Chat(msgspec.Struct, frozen=True):
    id: int
    type: str = "private"


class File(msgspec.Struct, frozen=True):
    file_id: str
    file_unique_id: str = ""
    file_name: str = ""
    mime_type: str = ""
    file_size: int = 0


class Contact(msgspec.Struct, frozen=True):
    phone_number: str
    user_id: int | None = None


class Location(msgspec.Struct, frozen=True):
    latitude: float
    longitude: float


class Message(msgspec.Struct, frozen=True):
    message_id: int
    date: int
    chat: Chat
    sender: User | None = msgspec.field(default=None, name="from")
    text: str = ""
    caption: str = ""
    photo: tuple[File, ...] = ()
    document: File | None = None
    voice: File | None = None
    audio: File | None = None
    video: File | None = None
    sticker: File | None = None
    contact: Contact | None = None
    location: Location | None = None


class Update(msgspec.Struct, frozen=True):
    update_id: int
    message: Message | None = None
    edited_message: Message | None = None


_DEFAULT_TYPES = {"photo": "image/jpeg", "document": "application/octet-stream",
                  "voice": "audio/ogg", "audio": "audio/mpeg", "video": "video/mp4",
                  "sticker": "image/webp"}


class TelegramConnector:
    name = "telegram"
    settings_type = TelegramSettings

    def settings(self, raw: Mapping[str, Any]) -> TelegramSettings:
        return load_settings(raw, TelegramSettings, "channels.telegram")

    def handshake(self, settings: TelegramSettings, request: WebhookRequest) -> Reply:
        return no_handshake(request)

    def handle(self, account: str, settings: TelegramSettings,
               request: WebhookRequest) -> Delivery:
        check_equal(settings.secret_token, request.header(SECRET_HEADER),
                    reason="bad_secret_token")
        update = decode_json(request.body, Update, "a Telegram Update")
        m = update.message or update.edited_message
        if m is None or m.sender is None:
            msg = InboundMessage(
                channel=Channel.TELEGRAM, account=account, external_id=str(update.update_id),
                sender=Sender((Identity(IdentityKind.PLATFORM,
                                        platform_id(Channel.TELEGRAM, account, "bot")),)),
                received_at=request.received_at, kind=MessageKind.EVENT,
                kind_reason="update without a user message")
            return Delivery((msg,), Reply(200))
        return Delivery((_message(account, settings, update, m, m.sender, request),),
                        Reply(200))


def _message(account: str, settings: TelegramSettings, update: Update, m: Message, user: User,
             request: WebhookRequest) -> InboundMessage:
    ids = [Identity(IdentityKind.PLATFORM, platform_id(Channel.TELEGRAM, account, str(user.id)))]
    if m.contact is not None and m.contact.user_id == user.id:
        phone = normalize_phone(m.contact.phone_number, settings.default_region)
        if phone is not None:
            ids.append(Identity(IdentityKind.PHONE, phone))
    attachments: list[Attachment] = []
    for kind, f in (("photo", m.photo[-1] if m.photo else None), ("document", m.document),
                    ("voice", m.voice), ("audio", m.audio), ("video", m.video),
                    ("sticker", m.sticker)):
        if f is not None:
            attachments.append(Attachment(
                name=f.file_name[:255] or kind,
                content_type=f.mime_type[:127] or _DEFAULT_TYPES[kind],
                size=max(f.file_size, 0), ref=f"telegram-file:{f.file_id[:256]}"))
    text = m.text or m.caption
    if not text and m.location is not None:
        text = f"[location] ({m.location.latitude}, {m.location.longitude})"
    if not text and m.contact is not None:
        text = f"[contact] {m.contact.phone_number[:40]}"
    meta = {"message_id": str(m.message_id), "chat_type": m.chat.type[:20]}
    if update.edited_message is not None:
        meta["edited"] = "true"
    if user.username:
        meta["username"] = user.username[:64]
    name = f"{user.first_name} {user.last_name}".strip()[:200]
    return InboundMessage(
        channel=Channel.TELEGRAM, account=account, external_id=str(update.update_id),
        sender=Sender(tuple(ids), name=name), received_at=from_epoch(m.date, request.received_at),
        text=clip(text), thread_key=str(m.chat.id), attachments=tuple(attachments),
        payload_id=f"{m.chat.id}:{m.message_id}", skill_hint=settings.skill, meta=meta)
