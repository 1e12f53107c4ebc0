"""The rules of delivering a reply that do not depend on how it is sent: how long to wait
before the next attempt, what each channel accepts (attachments, the customer-service window),
and a reply as the thread shows it. Pure values and functions; the outbox (queue/outbox.py)
and the sender worker apply them."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta

import msgspec

from deskgate.models.enums import Channel, IdentityKind, MessageKind
from deskgate.models.message import InboundMessage
from deskgate.models.outbound import (
    DeliveryState,
    OutboundAttachment,
    OutboundMessage,
    Recipient,
)

MAX_REPLY_CHARS = 20_000          # our own bound; each sender splits or refuses per channel
# one file an agent uploads for a reply: above every channel's limit but WhatsApp's documents
# (100 MB) and Telegram's (50 MB), which a reply can still forward from the customer
MAX_UPLOAD_BYTES = 25 << 20
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_MAX_SECONDS = 900.0
RETRY_AFTER_MAX_SECONDS = 3600.0  # a provider asking for more is capped (the reply still goes)


def next_attempt_delay(attempt: int, retry_after: float | None = None,
                       rng: random.Random | None = None) -> float:
    """Seconds to wait before attempt `attempt + 1`: exponential back-off with full jitter
    (so retries of many replies after one outage spread out instead of arriving together),
    never sooner than the provider's Retry-After."""
    ceiling = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempt - 1))
    delay = (rng or random).uniform(ceiling / 2, ceiling)
    if retry_after is not None:
        delay = max(delay, min(retry_after, RETRY_AFTER_MAX_SECONDS))
    return delay


class MediaKind(msgspec.Struct, frozen=True):
    """One kind of file a provider takes: its word for it ("image", "document", "photo"...),
    the content types it accepts (empty: any) and its documented size limit."""

    kind: str
    types: frozenset[str]
    max_bytes: int

    def type_names(self) -> list[str]:
        """The accepted types as people know them (pdf, docx, png...); [] = any type."""
        return sorted({_TYPE_NAMES.get(t, t.split("/")[-1]) for t in self.types})

    def describe(self) -> str:
        what = "/".join(self.type_names()) or "any type"
        return f"{self.kind} ({what}) up to {size_text(self.max_bytes)}"


class FileRules(msgspec.Struct, frozen=True):
    """What files one reply may carry on a channel: the first kind whose types match a file's
    content type is the kind it goes as; `max_total` bounds all files together (0: no bound)."""

    kinds: tuple[MediaKind, ...]
    max_files: int = 10
    max_total: int = 0

    def kind_of(self, content_type: str) -> MediaKind | None:
        ctype = content_type.split(";", 1)[0].strip().lower()
        return next((k for k in self.kinds if not k.types or ctype in k.types), None)


class ChannelLimits(msgspec.Struct, frozen=True):
    """What one reply may carry on a channel (the providers' documented limits)."""

    files: FileRules
    window: timedelta | None = None   # after the customer's last message; None = no window


_MB = 1 << 20
_KB = 1 << 10
_TYPE_NAMES = {
    "text/plain": "txt", "application/msword": "doc", "application/vnd.ms-excel": "xls",
    "application/vnd.ms-powerpoint": "ppt", "image/jpeg": "jpeg", "audio/mpeg": "mp3",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "pptx"}
_WA_DOCS = frozenset({
    "text/plain", "application/pdf", "application/msword", "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation"})
_JPEG_PNG = frozenset({"image/jpeg", "image/png"})


def _kinds(*kinds: tuple[str, frozenset[str], int], max_files: int = 10,
           max_total: int = 0) -> FileRules:
    return FileRules(tuple(MediaKind(*k) for k in kinds), max_files, max_total)


# Each provider's documented media types and sizes (the senders' docstrings cite the pages;
# docs/outbound-channels.md lists them). One message per file after the text, except Twilio
# SMS, whose one MMS carries up to 10 media of 5 MB in total.
LIMITS: dict[Channel, ChannelLimits] = {
    Channel.EMAIL: ChannelLimits(_kinds(("file", frozenset(), 20 * _MB))),
    # WhatsApp Cloud API /media (also applied to WhatsApp through Twilio)
    Channel.WHATSAPP: ChannelLimits(_kinds(
        ("image", _JPEG_PNG, 5 * _MB),
        ("video", frozenset({"video/mp4", "video/3gpp"}), 16 * _MB),
        ("audio", frozenset({"audio/aac", "audio/amr", "audio/mpeg", "audio/mp4",
                             "audio/ogg"}), 16 * _MB),
        ("document", _WA_DOCS, 100 * _MB)), timedelta(hours=24)),
    # Send API attachment upload: image, audio, video, file up to 25 MB
    Channel.MESSENGER: ChannelLimits(_kinds(
        ("image", frozenset({"image/jpeg", "image/png", "image/gif"}), 25 * _MB),
        ("video", frozenset({"video/mp4"}), 25 * _MB),
        ("audio", frozenset({"audio/mpeg", "audio/mp4", "audio/aac", "audio/wav"}), 25 * _MB),
        ("file", frozenset(), 25 * _MB)), timedelta(hours=24)),
    # Instagram messaging: images up to 8 MB, audio and video up to 25 MB, no other files
    Channel.INSTAGRAM: ChannelLimits(_kinds(
        ("image", frozenset({"image/jpeg", "image/png", "image/gif"}), 8 * _MB),
        ("video", frozenset({"video/mp4"}), 25 * _MB),
        ("audio", frozenset({"audio/mpeg", "audio/mp4", "audio/aac", "audio/wav"}),
         25 * _MB)), timedelta(hours=24)),
    # Bot API multipart upload: photos up to 10 MB, any other file up to 50 MB
    Channel.TELEGRAM: ChannelLimits(_kinds(
        ("photo", frozenset({"image/jpeg", "image/png"}), 10 * _MB),
        ("document", frozenset(), 50 * _MB))),
    # Official Account temporary media: images 10 MB, voice (AMR/MP3) 2 MB; no documents
    Channel.WECHAT: ChannelLimits(_kinds(
        ("image", frozenset({"image/jpeg", "image/png", "image/gif"}), 10 * _MB),
        ("voice", frozenset({"audio/amr", "audio/mpeg"}), 2 * _MB)), timedelta(hours=48)),
    # WeCom temporary media: image 10 MB, voice (AMR) 2 MB, video (MP4) 10 MB, file 20 MB
    Channel.WECOM: ChannelLimits(_kinds(
        ("image", _JPEG_PNG, 10 * _MB),
        ("voice", frozenset({"audio/amr"}), 2 * _MB),
        ("video", frozenset({"video/mp4"}), 10 * _MB),
        ("file", frozenset(), 20 * _MB)), timedelta(hours=48)),
    # LINE fetches images from our public link; the image is its own preview (1 MB at most);
    # one call carries at most 5 messages: the text and 4 images
    Channel.LINE: ChannelLimits(_kinds(("image", _JPEG_PNG, 1 * _MB), max_files=4)),
    # Twilio MMS: up to 10 media in one message, 5 MB together
    Channel.SMS: ChannelLimits(_kinds(
        ("media", frozenset({"image/jpeg", "image/png", "image/gif", "application/pdf",
                             "audio/mpeg", "video/mp4", "text/vcard"}), 5 * _MB),
        max_total=5 * _MB)),
    Channel.WEBCHAT: ChannelLimits(_kinds(("file", frozenset(), 10 * _MB), max_files=5)),
}
# a voicemail is answered by SMS through the number's Twilio account (gateway/workers/senders.py)
LIMITS[Channel.VOICE] = LIMITS[Channel.SMS]
NO_REPLY = ChannelLimits(FileRules((), 0))  # api / webform: the customer has no channel


def size_text(n: int) -> str:
    return f"{n / _MB:g} MB" if n >= _MB else f"{n / _KB:g} KB"


def file_refusal(rules: FileRules, who: str, files: Sequence[OutboundAttachment]) -> str:
    """Why `who` cannot carry these files ("" when it can), saying what it takes instead."""
    if not files:
        return ""
    if not rules.kinds:
        return f"{who} replies carry text only; send files by email"
    if len(files) > rules.max_files:
        return f"{who} takes at most {rules.max_files} file(s) per reply"
    if rules.max_total and sum(a.size for a in files) > rules.max_total:
        return (f"{who} takes at most {size_text(rules.max_total)} of files per message; send "
                "fewer or smaller files, or send them by email")
    for a in files:
        kind = rules.kind_of(a.content_type)
        if kind is None or a.size > kind.max_bytes:
            why = "is too large" if kind is not None else f"is {a.content_type or 'untyped'}"
            return (f"{who} cannot send {a.name}: it {why}; {who} takes "
                    + "; ".join(k.describe() for k in rules.kinds) + ". Send it by email instead")
    return ""


def limits(channel: Channel) -> ChannelLimits:
    return LIMITS.get(channel, NO_REPLY)


def window_closes(channel: Channel, last_customer_message: datetime | None) -> datetime | None:
    """When the channel's customer-service window closes (None: the channel has none, or the
    customer never wrote)."""
    window = limits(channel).window
    if window is None or last_customer_message is None:
        return None
    return last_customer_message + window


class ThreadReply(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One of our replies as the thread shows it: what was sent and what became of it."""

    message: OutboundMessage
    state: DeliveryState
    attempts: int = 0
    provider_id: str = ""
    reason: str = ""                  # why it failed (the provider's words)
    last_error: str = ""              # the latest temporary failure, while it is retried
    updated_at: datetime | None = None
    sent_at: datetime | None = None


def reply_target(message: InboundMessage) -> Recipient | None:
    """Where a reply to the customer's `message` goes: the channel and account it came in on
    and the customer's address there. A web form or an integration's message has no channel
    to answer on, so the answer goes by email when the customer left an address (as every
    help desk answers a contact form). None: no way to reach the customer."""
    ident = message.sender.identities[0] if message.sender.identities else None
    if ident is None:
        return None
    if message.channel in (Channel.API, Channel.WEBFORM):
        email = next((i.value for i in message.sender.identities
                      if i.kind is IdentityKind.EMAIL), "")
        return Recipient(Channel.EMAIL, message.account, email) if email else None
    if ident.kind is IdentityKind.PLATFORM:
        # "<channel>:<account>:<user id>": channel and account names hold no ':'
        address = ident.value.split(":", 2)[-1]
    else:
        address = ident.value
    return Recipient(message.channel, message.account, address)


# What providers call the states of a message we sent (WhatsApp Cloud API statuses, Twilio
# MessageStatus, Messenger delivery/read receipts), as our DeliveryState.
PROVIDER_STATES: dict[str, DeliveryState] = {
    "accepted": DeliveryState.SENT, "queued": DeliveryState.SENT,
    "sending": DeliveryState.SENT, "sent": DeliveryState.SENT,
    "delivered": DeliveryState.DELIVERED, "read": DeliveryState.READ,
    "failed": DeliveryState.FAILED, "undelivered": DeliveryState.FAILED,
}


class StatusUpdate(msgspec.Struct, frozen=True):
    """A provider's word about one of our messages: by its id, or (Messenger) every message
    to `address` sent up to `watermark`."""

    state: DeliveryState
    provider_id: str = ""
    address: str = ""
    watermark: float = 0.0              # epoch seconds


def status_update(message: InboundMessage) -> StatusUpdate | None:
    """The delivery news in a STATUS record a connector made (None: not about our messages,
    or a state we do not track)."""
    if message.kind is not MessageKind.STATUS:
        return None
    if message.channel in (Channel.MESSENGER, Channel.INSTAGRAM):
        state = PROVIDER_STATES.get(message.kind_reason)
        ident = message.sender.identities[0] if message.sender.identities else None
        try:
            watermark = int(message.meta.get("watermark", "0")) / 1000
        except ValueError:
            return None
        if state is None or ident is None or watermark <= 0:
            return None
        return StatusUpdate(state, address=ident.value.split(":", 2)[-1], watermark=watermark)
    state = PROVIDER_STATES.get(message.meta.get("status", "").lower())
    provider_id = message.meta.get("message") or message.payload_id
    return StatusUpdate(state, provider_id=provider_id) if state and provider_id else None


DEFAULT_ACK_TEXTS = {
    "zh": "您的售后申请已收到（工单号 {ticket}），我们会在 {hours} 小时内处理。",
    "en": "We have received your request (ticket {ticket}) and will answer within {hours} "
          "hours.",
}
DEFAULT_STATUS_TEXTS = {
    "zh": "随时查看处理进度：{status_link}",
    "en": "Follow its progress here: {status_link}",
}


class AutoAckConfig(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """The automatic acknowledgement of a new ticket (config `auto_ack:`). `{ticket}` and
    `{hours}` (the expected first-response time from the ticket's SLA) are filled in. When the
    deployment has a public URL (`http.public_url`), a line from `status_texts` follows with
    the ticket's signed status link (`{status_link}`); `status_texts: {}` leaves it out."""

    enabled: bool = False
    window_hours: float = 24.0            # at most one acknowledgement per customer per window
    default_language: str = "zh"          # when triage could not tell
    texts: dict[str, str] = msgspec.field(default_factory=lambda: dict(DEFAULT_ACK_TEXTS))
    status_texts: dict[str, str] = msgspec.field(
        default_factory=lambda: dict(DEFAULT_STATUS_TEXTS))
    # "<channel>/<account>" -> its own texts by language ({} = the texts above); when any are
    # listed, only those accounts acknowledge
    accounts: dict[str, dict[str, str]] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        for texts in (self.texts, *self.accounts.values()):
            for lang, text in texts.items():
                _check(text, lang, ticket="DG-1", hours=1)
        for lang, text in self.status_texts.items():
            _check(text, lang, status_link="https://x/status/t")

    def text_for(self, channel: str, account: str, language: str, ticket: str,
                 hours: int, status_link: str = "") -> str | None:
        """The acknowledgement for a new ticket on that account, None when it gets none."""
        if not self.enabled:
            return None
        own = self.accounts.get(f"{channel}/{account}")
        if self.accounts and own is None:
            return None
        texts = {**self.texts, **(own or {})}
        text = texts.get(language) or texts.get(self.default_language)
        if not text:
            return None
        text = text.format(ticket=ticket, hours=hours)
        line = self.status_texts.get(language) or self.status_texts.get(self.default_language)
        return f"{text}\n{line.format(status_link=status_link)}" if status_link and line else text


def _check(text: str, lang: str, **values: object) -> None:
    try:
        text.format(**values)
    except (KeyError, IndexError, ValueError) as exc:
        names = ", ".join(f"{{{n}}}" for n in values)
        raise ValueError(f"auto_ack text ({lang}) may use only {names}: {exc}") from None
