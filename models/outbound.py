"""What an agent (or an automatic answer) sends back to a customer, on the channel the customer
used, and what became of it. The outbox (a Redis stream) carries OutboundMessage values; a sender
per channel (connectors/send/) turns one into the provider's API call."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

import msgspec

from deskgate.models.enums import Channel


class DeliveryState(StrEnum):
    """A reply's life on the thread: queued → sent → delivered → read, or failed (with reason).
    States only move forward; a late "delivered" after "read" changes nothing."""

    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {DeliveryState.QUEUED: 0, DeliveryState.SENT: 1, DeliveryState.DELIVERED: 2,
         DeliveryState.READ: 3, DeliveryState.FAILED: 4}


class Recipient(msgspec.Struct, frozen=True):
    """Where a reply goes: the channel account the customer wrote to, and the customer's address
    on it as the channel knows it (an email address, an E.164 phone, a Messenger PSID, a Telegram
    chat id, a WeChat openid, a WeCom external_userid, a web-chat visitor id)."""

    channel: Channel
    account: str
    address: str


class OutboundAttachment(msgspec.Struct, frozen=True):
    """A file from the blob store (`ref` = "sha256:<hex>")."""

    name: str
    content_type: str
    size: int
    ref: str


class TemplateCall(msgspec.Struct, frozen=True, omit_defaults=True):
    """A provider-approved template (WhatsApp outside the 24-hour window): its name, language
    and positional body parameters."""

    name: str
    language: str
    parameters: tuple[str, ...] = ()


class TemplateSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A provider-approved template an account may send (its configuration): the name (a
    WhatsApp template name, a Twilio ContentSid), the language code and the names of its body
    variables in order, which the agent fills in."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
    language: Annotated[str, msgspec.Meta(min_length=2, max_length=15)]
    variables: Annotated[tuple[Annotated[str, msgspec.Meta(max_length=100)], ...],
                         msgspec.Meta(max_length=20)] = ()
    title: Annotated[str, msgspec.Meta(max_length=200)] = ""   # shown to agents; the name if empty


class OutboundMessage(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One reply. `reply_id` is its idempotency key: every retry of the send carries it, so a
    provider that accepts a key (or our own dedupe) sends it once.

    `in_reply_to` is the provider id of the customer message being answered (the email
    Message-ID for In-Reply-To/References, a LINE reply token, a Messenger mid); `references`
    the earlier email Message-IDs of the thread, oldest first; `subject` is for email only.

    `window_opened_at` is when the customer last wrote on this channel (the latest inbound
    message of the ticket): the customer-service windows (WhatsApp and Messenger 24 h, WeChat
    and WeCom 48 h) run from it, and LINE's reply token is only good shortly after it. None =
    unknown: the sender then lets the provider judge the window."""

    reply_id: str
    ticket_id: str
    recipient: Recipient
    text: str
    author: str                         # agent id, or "auto" for automatic answers
    created_at: datetime
    attachments: tuple[OutboundAttachment, ...] = ()
    in_reply_to: str = ""
    references: tuple[str, ...] = ()
    subject: str = ""
    template: TemplateCall | None = None
    language: str = ""                  # "zh" / "en": the customer's language, for templates
    window_opened_at: datetime | None = None


class SendResult(msgspec.Struct, frozen=True, omit_defaults=True):
    """What the provider answered to an accepted send: its id for the message (status callbacks
    name it) and the state it reached (most APIs answer "sent"; some say more)."""

    provider_id: str
    state: DeliveryState = DeliveryState.SENT
