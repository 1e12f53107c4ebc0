"""Facebook Messenger (object "page") and Instagram messaging (object "instagram") webhooks.

Each `entry[].messaging[]` (and `standby[]`, when another app holds the thread) event becomes:
a customer message or postback → MESSAGE keyed on its mid; an echo of a message our page sent →
OWN; delivery/read receipts → STATUS; anything else (reactions, referrals, opt-ins, changes)
→ EVENT, keyed on a hash of the event so a retried delivery is still one record.
"""

from __future__ import annotations

import msgspec

from deskgate.connectors.base import (
    MAX_ATTACHMENTS,
    Delivery,
    WebhookRequest,
    clip,
    event_id,
    from_epoch,
    platform_id,
)
from deskgate.connectors.media import MediaPolicy
from deskgate.connectors.meta import EVENT_RECEIVED, MetaConnector, MetaSettings
from deskgate.models.enums import Channel, IdentityKind, MessageKind
from deskgate.models.message import Attachment, Identity, InboundMessage, Sender

MEDIA = MediaPolicy(hosts=("fbcdn.net", "fbsbx.com", "facebook.com", "cdninstagram.com",
                           "instagram.com"))
_CONTENT_TYPES = {"image": "image/*", "video": "video/*", "audio": "audio/*",
                  "file": "application/octet-stream"}


class Party(msgspec.Struct, frozen=True):
    id: str


class AttachmentPayload(msgspec.Struct, frozen=True):
    url: str = ""
    title: str = ""


class AttachmentIn(msgspec.Struct, frozen=True):
    type: str = "file"
    payload: AttachmentPayload | None = None


class QuickReply(msgspec.Struct, frozen=True):
    payload: str = ""


class MessageIn(msgspec.Struct, frozen=True):
    mid: str
    text: str = ""
    is_echo: bool = False
    attachments: tuple[AttachmentIn, ...] = ()
    quick_reply: QuickReply | None = None


class Postback(msgspec.Struct, frozen=True):
    mid: str = ""
    title: str = ""
    payload: str = ""


class Receipt(msgspec.Struct, frozen=True):
    watermark: int = 0
    mid: str = ""


class Event(msgspec.Struct, frozen=True):
    sender: Party
    recipient: Party
    timestamp: int = 0
    message: MessageIn | None = None
    postback: Postback | None = None
    delivery: Receipt | None = None
    read: Receipt | None = None


class Entry(msgspec.Struct, frozen=True):
    id: str = ""
    time: int = 0
    messaging: tuple[msgspec.Raw, ...] = ()
    standby: tuple[msgspec.Raw, ...] = ()
    changes: tuple[msgspec.Raw, ...] = ()


class Envelope(msgspec.Struct, frozen=True):
    object: str
    entry: tuple[Entry, ...]


class _MessagingConnector(MetaConnector):
    channel: Channel
    object_name: str

    def handle(self, account: str, settings: MetaSettings,
               request: WebhookRequest) -> Delivery:
        self.verify(settings, request)
        env = self.decode(request.body, Envelope)
        out: list[InboundMessage] = []
        for entry in env.entry:
            for raw in entry.messaging + entry.standby:
                if env.object == self.object_name:
                    out.append(self._one(account, settings, self.decode(raw, Event), raw,
                                         request))
                else:
                    out.append(self._other(account, entry, raw, f"object {env.object[:40]}",
                                           request))
            out.extend(self._other(account, entry, raw, "change", request)
                       for raw in entry.changes)
        return Delivery(tuple(out), EVENT_RECEIVED)

    def _person(self, account: str, psid: str) -> Sender:
        return Sender((Identity(IdentityKind.PLATFORM, platform_id(self.channel, account, psid)),))

    def _one(self, account: str, settings: MetaSettings, e: Event, raw: msgspec.Raw,
             request: WebhookRequest) -> InboundMessage:
        echo = e.message is not None and e.message.is_echo
        # An echo is sent by the page to the customer: the customer is the recipient.
        page, psid = (e.sender.id, e.recipient.id) if echo else (e.recipient.id, e.sender.id)
        kind, reason, text, external = MessageKind.MESSAGE, "", "", ""
        attachments: tuple[Attachment, ...] = ()
        meta: dict[str, str] = {}
        if e.message is not None:
            m = e.message
            external, text = m.mid, m.text
            attachments = tuple(_attachment(a) for a in m.attachments[:MAX_ATTACHMENTS])
            if m.quick_reply is not None:
                meta["quick_reply"] = m.quick_reply.payload[:256]
            if echo:
                kind, reason = MessageKind.OWN, "echo of our own message"
        elif e.postback is not None:
            external, text = e.postback.mid, e.postback.title
            meta["postback"] = e.postback.payload[:256]
            if not text:
                kind, reason = MessageKind.EVENT, "postback without title"
        elif e.delivery is not None or e.read is not None:
            receipt = e.delivery or e.read
            kind, reason = MessageKind.STATUS, "delivered" if e.delivery else "read"
            meta["watermark"] = str(receipt.watermark)  # type: ignore[union-attr]
        else:
            kind, reason = MessageKind.EVENT, "messaging event without message or postback"
        return InboundMessage(
            channel=self.channel, account=account,
            external_id=external or event_id(self.channel, bytes(raw)),
            sender=self._person(account, psid),
            received_at=from_epoch(e.timestamp, request.received_at), text=clip(text),
            thread_key=f"{page}:{psid}", attachments=attachments, kind=kind,
            kind_reason=reason, payload_id=external, skill_hint=settings.skill, meta=meta)

    def _other(self, account: str, entry: Entry, raw: msgspec.Raw, what: str,
               request: WebhookRequest) -> InboundMessage:
        return InboundMessage(
            channel=self.channel, account=account,
            external_id=event_id(self.channel, entry.id, bytes(raw)),
            sender=self._person(account, entry.id or "meta"),
            received_at=from_epoch(entry.time, request.received_at), kind=MessageKind.EVENT,
            kind_reason=what)


def _attachment(a: AttachmentIn) -> Attachment:
    url = a.payload.url if a.payload is not None else ""
    return Attachment(name=(a.payload.title if a.payload else "")[:255] or a.type[:40],
                      content_type=_CONTENT_TYPES.get(a.type, "application/octet-stream"),
                      ref=MEDIA.ref(url) if url else "")


class MessengerConnector(_MessagingConnector):
    name = "messenger"
    channel = Channel.MESSENGER
    object_name = "page"


class InstagramConnector(_MessagingConnector):
    name = "instagram"
    channel = Channel.INSTAGRAM
    object_name = "instagram"
