"""Our own channels: the web-chat widget / app (JSON) and the website contact form (HTML form
post), both relayed by the customer's site backend.

Signing (both): headers `X-Deskgate-Timestamp: <unix seconds>` and
`X-Deskgate-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>`. The
timestamp is inside the MAC and must be within `max_skew` seconds, so a captured request can
only be replayed briefly, and then it carries the same message id and is recognised as a
duplicate.

The visitor id is the site's own, under its signature. The email and phone a visitor types are
claims: unless the account says its site has verified them (`verified_contacts`, e.g. only
signed-in users reach the widget), they are sent as unverified identities, which are shown to
agents but never join the visitor to the customer who owns that address.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import msgspec

from deskgate.connectors.base import (
    DEFAULT_MAX_SKEW,
    MAX_ATTACHMENTS,
    Delivery,
    Reply,
    WebhookRequest,
    check_equal,
    check_fresh,
    clip,
    decode_json,
    hmac_hex,
    load_settings,
    no_handshake,
    parse_form,
    platform_id,
    require,
)
from deskgate.connectors.media import MediaPolicy
from deskgate.models.enums import Channel, IdentityKind
from deskgate.models.message import Attachment, Identity, InboundMessage, Sender
from deskgate.models.phone import normalize_phone

SIGNATURE_HEADER = "X-Deskgate-Signature"
TIMESTAMP_HEADER = "X-Deskgate-Timestamp"
_ID = re.compile(r"^[\w.:@-]{1,128}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{1,63}$")


class WebSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    secret: str
    max_skew: int = DEFAULT_MAX_SKEW
    default_region: str = "CN"
    media_hosts: tuple[str, ...] = ()     # where the site keeps uploads (suffixes)
    skill: str = ""
    verified_contacts: bool = False       # the site vouches for the visitor's email and phone

    def __post_init__(self) -> None:
        if len(self.secret) < 16:
            raise ValueError("secret must be at least 16 characters")


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """What the site backend sends in X-Deskgate-Signature (documented in docs/channels.md)."""
    return "sha256=" + hmac_hex(secret.encode(), f"{timestamp}.".encode() + body)


def _verify(settings: WebSettings, request: WebhookRequest) -> None:
    timestamp = request.header(TIMESTAMP_HEADER)
    check_fresh(timestamp, settings.max_skew)
    check_equal(sign(settings.secret, timestamp, request.body),
                request.header(SIGNATURE_HEADER))


def verify_fetch(settings: WebSettings, timestamp: str, signature: str, path_qs: str) -> None:
    """The site backend fetching agents' replies for a visitor signs the request line as it
    signs a message body: sign(secret, timestamp, b"GET " + path and query)."""
    check_fresh(timestamp, settings.max_skew)
    check_equal(sign(settings.secret, timestamp, f"GET {path_qs}".encode()), signature)


def visitor_identity(account: str, visitor_id: str) -> Identity:
    require(bool(_ID.match(visitor_id)), "visitor id: 1-128 letters, digits or ._:@-")
    return Identity(IdentityKind.PLATFORM, platform_id(Channel.WEBCHAT, account, visitor_id))


def _identities(channel: Channel, account: str, visitor_id: str, email: str, phone: str,
                settings: WebSettings) -> tuple[Identity, ...]:
    ids: list[Identity] = []
    if visitor_id:
        require(bool(_ID.match(visitor_id)), "visitor id: 1-128 letters, digits or ._:@-")
        ids.append(Identity(IdentityKind.PLATFORM, platform_id(channel, account, visitor_id)))
    if email:
        email = email.strip().lower()
        require(bool(_EMAIL.match(email)), f"not an email address: {email[:80]!r}")
        ids.append(Identity(IdentityKind.EMAIL, email, settings.verified_contacts))
    if phone:
        e164 = normalize_phone(phone, settings.default_region)
        require(e164 is not None, f"not a phone number: {phone[:40]!r}")
        ids.append(Identity(IdentityKind.PHONE, e164,  # type: ignore[arg-type]
                            settings.verified_contacts))
    return tuple(ids)


def _ack(messages: tuple[InboundMessage, ...]) -> Delivery:
    body = msgspec.json.encode({"ids": [m.id for m in messages]})
    return Delivery(messages, Reply(200, body, "application/json"))


class VisitorIn(msgspec.Struct, frozen=True):
    id: str
    name: str = ""
    email: str = ""
    phone: str = ""


class AttachmentIn(msgspec.Struct, frozen=True):
    url: str
    name: str = ""
    content_type: str = "application/octet-stream"
    size: int = 0


class ChatIn(msgspec.Struct, frozen=True):
    message_id: str
    conversation_id: str
    visitor: VisitorIn
    text: str = ""
    attachments: tuple[AttachmentIn, ...] = ()
    sent_at: datetime | None = None




class WebChatConnector:
    """POST application/json: one ChatIn (see docs/channels.md)."""

    name = "webchat"
    settings_type = WebSettings

    def settings(self, raw: Mapping[str, Any]) -> WebSettings:
        return load_settings(raw, WebSettings, "channels.webchat")

    def handshake(self, settings: WebSettings, request: WebhookRequest) -> Reply:
        return no_handshake(request)

    def handle(self, account: str, settings: WebSettings, request: WebhookRequest) -> Delivery:
        _verify(settings, request)
        chat = decode_json(request.body, ChatIn, "a web-chat message")
        require(bool(_ID.match(chat.message_id)), "message_id: 1-128 letters, digits or ._:@-")
        require(bool(_ID.match(chat.conversation_id)),
                "conversation_id: 1-128 letters, digits or ._:@-")
        require(bool(chat.text.strip()) or bool(chat.attachments),
                "a message needs text or attachments")
        require(len(chat.attachments) <= MAX_ATTACHMENTS,
                f"at most {MAX_ATTACHMENTS} attachments")
        policy = MediaPolicy(settings.media_hosts)
        v = chat.visitor
        msg = InboundMessage(
            channel=Channel.WEBCHAT, account=account, external_id=chat.message_id,
            sender=Sender(_identities(Channel.WEBCHAT, account, v.id, v.email, v.phone,
                                      settings), name=v.name[:200]),
            received_at=_aware(chat.sent_at) or request.received_at, text=clip(chat.text),
            thread_key=chat.conversation_id, skill_hint=settings.skill,
            attachments=tuple(Attachment(name=a.name[:255] or "attachment",
                                         content_type=a.content_type[:127], size=max(a.size, 0),
                                         ref=policy.ref(a.url)) for a in chat.attachments))
        return _ack((msg,))


_FORM_FIELDS = {"submission_id", "name", "email", "phone", "subject", "message", "visitor_id"}


class WebFormConnector:
    """POST application/x-www-form-urlencoded: the contact form's fields, relayed as posted.
    A submission without submission_id is identified by its content, so a re-post of the same
    form is one message."""

    name = "webform"
    settings_type = WebSettings

    def settings(self, raw: Mapping[str, Any]) -> WebSettings:
        return load_settings(raw, WebSettings, "channels.webform")

    def handshake(self, settings: WebSettings, request: WebhookRequest) -> Reply:
        return no_handshake(request)

    def handle(self, account: str, settings: WebSettings, request: WebhookRequest) -> Delivery:
        _verify(settings, request)
        fields = parse_form(request.body)
        unknown = set(fields) - _FORM_FIELDS
        require(not unknown, f"unknown form fields: {', '.join(sorted(unknown))[:200]}")
        text = fields.get("message", "")
        require(bool(text.strip()), "the form's message field is empty")
        require(bool(fields.get("email") or fields.get("phone")),
                "the form needs an email or a phone to answer to")
        submission = fields.get("submission_id") or \
            "sha256:" + hashlib.sha256(request.body).hexdigest()[:40]
        require(len(submission) <= 128, "submission_id: at most 128 characters")
        msg = InboundMessage(
            channel=Channel.WEBFORM, account=account, external_id=submission,
            sender=Sender(_identities(Channel.WEBFORM, account, fields.get("visitor_id", ""),
                                      fields.get("email", ""), fields.get("phone", ""),
                                      settings),
                          name=fields.get("name", "")[:200]),
            received_at=request.received_at, text=clip(text),
            subject=fields.get("subject", "")[:1000], thread_key=f"form:{submission}",
            skill_hint=settings.skill)
        return _ack((msg,))


def _aware(value: datetime | None) -> datetime | None:
    return value if value is not None and value.tzinfo is not None else None
