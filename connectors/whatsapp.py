"""WhatsApp Business Cloud API `messages` webhooks (object "whatsapp_business_account").

Customer messages (text, media, location, interactive/button replies) become MESSAGEs keyed on
their wamid; `statuses` (sent/delivered/read/failed) are STATUS records; reactions, system
notices, errors and other change fields are EVENTs. Media is referenced by its WhatsApp media id
(fetched, if ever, through the Graph API), never by a URL from the payload.
"""

from __future__ import annotations

import msgspec

from deskgate.connectors.base import (
    Delivery,
    WebhookRequest,
    clip,
    event_id,
    from_epoch,
    platform_id,
)
from deskgate.connectors.meta import EVENT_RECEIVED, MetaConnector, MetaSettings
from deskgate.models.enums import Channel, IdentityKind, MessageKind
from deskgate.models.message import Attachment, Identity, InboundMessage, Sender
from deskgate.models.phone import normalize_phone

_MEDIA = ("image", "document", "audio", "video", "sticker")
_DEFAULT_TYPES = {"image": "image/jpeg", "document": "application/octet-stream",
                  "audio": "audio/ogg", "video": "video/mp4", "sticker": "image/webp"}


class Text(msgspec.Struct, frozen=True):
    body: str = ""


class Media(msgspec.Struct, frozen=True):
    id: str = ""
    mime_type: str = ""
    sha256: str = ""
    caption: str = ""
    filename: str = ""


class Location(msgspec.Struct, frozen=True):
    latitude: float = 0.0
    longitude: float = 0.0
    name: str = ""
    address: str = ""


class Choice(msgspec.Struct, frozen=True):
    id: str = ""
    title: str = ""
    description: str = ""


class Interactive(msgspec.Struct, frozen=True):
    type: str = ""
    button_reply: Choice | None = None
    list_reply: Choice | None = None


class Button(msgspec.Struct, frozen=True):
    text: str = ""
    payload: str = ""


class Context(msgspec.Struct, frozen=True):
    id: str = ""


class Message(msgspec.Struct, frozen=True):
    sender: str = msgspec.field(name="from")
    id: str
    timestamp: str = ""
    type: str = "unknown"
    text: Text | None = None
    image: Media | None = None
    document: Media | None = None
    audio: Media | None = None
    video: Media | None = None
    sticker: Media | None = None
    location: Location | None = None
    interactive: Interactive | None = None
    button: Button | None = None
    context: Context | None = None


class Status(msgspec.Struct, frozen=True):
    id: str
    status: str
    timestamp: str = ""
    recipient_id: str = ""


class Profile(msgspec.Struct, frozen=True):
    name: str = ""


class Contact(msgspec.Struct, frozen=True):
    wa_id: str = ""
    profile: Profile = Profile()


class Metadata(msgspec.Struct, frozen=True):
    display_phone_number: str = ""
    phone_number_id: str = ""


class Value(msgspec.Struct, frozen=True):
    metadata: Metadata = Metadata()
    contacts: tuple[Contact, ...] = ()
    messages: tuple[Message, ...] = ()
    statuses: tuple[Status, ...] = ()


class Change(msgspec.Struct, frozen=True):
    field: str
    value: msgspec.Raw


class Entry(msgspec.Struct, frozen=True):
    id: str = ""
    changes: tuple[Change, ...] = ()


class Envelope(msgspec.Struct, frozen=True):
    object: str
    entry: tuple[Entry, ...]


class WhatsAppConnector(MetaConnector):
    name = "whatsapp"

    def handle(self, account: str, settings: MetaSettings,
               request: WebhookRequest) -> Delivery:
        self.verify(settings, request)
        env = self.decode(request.body, Envelope)
        out: list[InboundMessage] = []
        for entry in env.entry:
            for change in entry.changes:
                if change.field == "messages" and env.object == "whatsapp_business_account":
                    value = self.decode(change.value, Value)
                    out.extend(_message(account, settings, value, m, request)
                               for m in value.messages)
                    out.extend(_status(account, value, s, request) for s in value.statuses)
                else:
                    out.append(_event(account, env.object, entry.id, change, request))
        return Delivery(tuple(out), EVENT_RECEIVED)


def _sender(account: str, settings: MetaSettings, wa_id: str, name: str) -> Sender:
    ids = [Identity(IdentityKind.PLATFORM, platform_id(Channel.WHATSAPP, account, wa_id))]
    phone = normalize_phone("+" + wa_id.lstrip("+"), settings.default_region)
    if phone is not None:
        ids.append(Identity(IdentityKind.PHONE, phone))
    return Sender(tuple(ids), name=name[:200])


def _message(account: str, settings: MetaSettings, value: Value, m: Message,
             request: WebhookRequest) -> InboundMessage:
    name = next((c.profile.name for c in value.contacts if c.wa_id == m.sender), "")
    kind, reason, text = MessageKind.MESSAGE, "", ""
    attachments: tuple[Attachment, ...] = ()
    media: Media | None = getattr(m, m.type) if m.type in _MEDIA else None
    if m.type == "text" and m.text is not None:
        text = m.text.body
    elif media is not None and media.id:
        text = media.caption
        attachments = (Attachment(name=media.filename[:255] or m.type,
                                  content_type=media.mime_type[:127] or _DEFAULT_TYPES[m.type],
                                  sha256=media.sha256[:64], ref=f"whatsapp-media:{media.id}"),)
    elif m.type == "location" and m.location is not None:
        loc = m.location
        text = f"[location] {loc.name} {loc.address} ({loc.latitude}, {loc.longitude})".strip()
    elif m.type == "interactive" and m.interactive is not None:
        choice = m.interactive.button_reply or m.interactive.list_reply
        text = choice.title if choice else ""
    elif m.type == "button" and m.button is not None:
        text = m.button.text
    else:
        kind, reason = MessageKind.EVENT, f"message type {m.type[:40]}"
    meta = {"phone_number_id": value.metadata.phone_number_id}
    if m.context is not None and m.context.id:
        meta["reply_to"] = m.context.id
    return InboundMessage(
        channel=Channel.WHATSAPP, account=account, external_id=m.id,
        sender=_sender(account, settings, m.sender, name),
        received_at=from_epoch(m.timestamp, request.received_at), text=clip(text),
        thread_key=f"{value.metadata.phone_number_id}:{m.sender}", attachments=attachments,
        kind=kind, kind_reason=reason, payload_id=m.id, skill_hint=settings.skill, meta=meta)


def _status(account: str, value: Value, s: Status, request: WebhookRequest) -> InboundMessage:
    recipient = s.recipient_id or "unknown"
    return InboundMessage(
        channel=Channel.WHATSAPP, account=account, external_id=f"status:{s.id}:{s.status}",
        sender=Sender((Identity(IdentityKind.PLATFORM,
                                platform_id(Channel.WHATSAPP, account, recipient)),)),
        received_at=from_epoch(s.timestamp, request.received_at),
        thread_key=f"{value.metadata.phone_number_id}:{recipient}", kind=MessageKind.STATUS,
        kind_reason=f"status {s.status[:40]}", payload_id=s.id,
        meta={"status": s.status[:40], "message": s.id[:256]})


def _event(account: str, obj: str, entry_id: str, change: Change,
           request: WebhookRequest) -> InboundMessage:
    return InboundMessage(
        channel=Channel.WHATSAPP, account=account,
        external_id=event_id(obj, entry_id, change.field, bytes(change.value)),
        sender=Sender((Identity(IdentityKind.PLATFORM,
                                platform_id(Channel.WHATSAPP, account, entry_id or "meta")),)),
        received_at=request.received_at, kind=MessageKind.EVENT,
        kind_reason=f"{obj[:40]} change {change.field[:40]}", meta={"field": change.field[:64]})
