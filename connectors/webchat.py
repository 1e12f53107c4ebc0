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
    Unauthorized,
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
_ORIGIN = re.compile(r"^https?://[a-z0-9.-]{1,253}(:\d{1,5})?$")
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_VISITOR_TOKEN = re.compile(r"^([\w.:@-]{1,128})\.(\d{10,12})\.([0-9a-f]{64})$")
VISITOR_TOKEN_MAX_DAYS = 30          # a token expiring later than this is refused
MAX_WIDGET_TEXT = 4000               # characters of one message typed into the widget


class WebSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    secret: str
    max_skew: int = DEFAULT_MAX_SKEW
    default_region: str = "CN"
    media_hosts: tuple[str, ...] = ()     # where the site keeps uploads (suffixes)
    skill: str = ""
    verified_contacts: bool = False       # the site vouches for the visitor's email and phone
    # the visitor widget (/webchat/widget.js): the sites that may embed it, exactly as a
    # browser sends Origin ("https://shop.example.cn"); none = the widget is off
    allowed_origins: tuple[str, ...] = ()
    # the gateway may mint a token for a visitor the site did not sign in
    anonymous_visitors: bool = False

    def __post_init__(self) -> None:
        if len(self.secret) < 16:
            raise ValueError("secret must be at least 16 characters")
        for origin in self.allowed_origins:
            if not _ORIGIN.match(origin):
                raise ValueError(f"allowed_origins: {origin[:100]!r} is not an origin like "
                                 "https://shop.example.cn (scheme, host, optional port; no "
                                 "path, no trailing slash)")


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
                settings: WebSettings, vouched: bool) -> tuple[Identity, ...]:
    ids: list[Identity] = []
    if visitor_id:
        require(bool(_ID.match(visitor_id)), "visitor id: 1-128 letters, digits or ._:@-")
        ids.append(Identity(IdentityKind.PLATFORM, platform_id(channel, account, visitor_id)))
    if email:
        email = email.strip().lower()
        require(bool(_EMAIL.match(email)), f"not an email address: {email[:80]!r}")
        ids.append(Identity(IdentityKind.EMAIL, email, vouched))
    if phone:
        e164 = normalize_phone(phone, settings.default_region)
        require(e164 is not None, f"not a phone number: {phone[:40]!r}")
        ids.append(Identity(IdentityKind.PHONE, e164, vouched))  # type: ignore[arg-type]
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
        return _ack((chat_message(account, settings, chat, request.received_at,
                                  vouched=settings.verified_contacts),))


def chat_message(account: str, settings: WebSettings, chat: ChatIn, received_at: datetime, *,
                 vouched: bool) -> InboundMessage:
    """One web-chat message, whether the site backend relayed it (signed) or the visitor's
    widget posted it (visitor token): the same message, the same dedupe by its id."""
    require(bool(chat.text.strip()) or bool(chat.attachments),
            "a message needs text or attachments")
    require(len(chat.attachments) <= MAX_ATTACHMENTS, f"at most {MAX_ATTACHMENTS} attachments")
    policy = MediaPolicy(settings.media_hosts)
    v = chat.visitor
    return InboundMessage(
        channel=Channel.WEBCHAT, account=account, external_id=chat.message_id,
        sender=Sender(_identities(Channel.WEBCHAT, account, v.id, v.email, v.phone, settings,
                                  vouched), name=v.name[:200]),
        received_at=_aware(chat.sent_at) or received_at, text=clip(chat.text),
        thread_key=chat.conversation_id, skill_hint=settings.skill,
        attachments=tuple(Attachment(name=a.name[:255] or "attachment",
                                     content_type=a.content_type[:127], size=max(a.size, 0),
                                     ref=policy.ref(a.url)) for a in chat.attachments))


def visitor_token(secret: str, account: str, visitor_id: str, expires: int) -> str:
    """The token a site backend gives its signed-in visitor's widget (docs/outbound-channels.md):
    "<visitor id>.<expires>.<mac>", mac the hex HMAC-SHA256 with the account secret of
    "visitor|<account>|<visitor id>|<expires>"."""
    mac = hmac_hex(secret.encode(), f"visitor|{account}|{visitor_id}|{expires}".encode())
    return f"{visitor_id}.{expires}.{mac}"


def verify_visitor(settings: WebSettings, account: str, token: str, now: float) -> str:
    """The visitor id a widget's token proves, for this account only; Unauthorized otherwise
    (401 missing, 403 wrong, expired or expiring implausibly late)."""
    if not token:
        raise Unauthorized("missing_token", "the visitor token is missing", status=401)
    m = _VISITOR_TOKEN.match(token) if len(token) <= 256 else None
    if m is None:
        raise Unauthorized("bad_token", "the visitor token is malformed: <visitor id>.<expires>"
                           ".<hex HMAC-SHA256>")
    check_equal(visitor_token(settings.secret, account, m[1], int(m[2])), m[0],
                reason="bad_token")
    if int(m[2]) < now:
        raise Unauthorized("expired_token", "the visitor token has expired; get a new one")
    if int(m[2]) > now + VISITOR_TOKEN_MAX_DAYS * 86400:
        raise Unauthorized("bad_token", f"the visitor token must expire within "
                           f"{VISITOR_TOKEN_MAX_DAYS} days")
    return m[1]


class WidgetIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What the visitor widget posts: `client_id` is the widget's own id for this message, the
    same on every retry of it, so a retried send is one message."""

    client_id: str
    text: str
    name: str = ""
    email: str = ""


def widget_message(account: str, settings: WebSettings, visitor_id: str, body: bytes,
                   received_at: datetime) -> InboundMessage:
    """A message the visitor typed into the widget. The name and email they type are claims:
    never vouched for, whatever the account says of its site's own relayed messages."""
    w = decode_json(body, WidgetIn, "a widget message ({client_id, text, name?, email?})")
    require(bool(_CLIENT_ID.match(w.client_id)), "client_id: 8-64 letters, digits, _ or -")
    require(len(w.text) <= MAX_WIDGET_TEXT,
            f"a message is at most {MAX_WIDGET_TEXT} characters; send it in parts")
    chat = ChatIn(message_id=f"widget:{visitor_id}:{w.client_id}",
                  conversation_id=f"widget:{visitor_id}",
                  visitor=VisitorIn(id=visitor_id, name=w.name, email=w.email), text=w.text)
    return chat_message(account, settings, chat, received_at, vouched=False)


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
                                      settings, settings.verified_contacts),
                          name=fields.get("name", "")[:200]),
            received_at=request.received_at, text=clip(text),
            subject=fields.get("subject", "")[:1000], thread_key=f"form:{submission}",
            skill_hint=settings.skill)
        return _ack((msg,))


def _aware(value: datetime | None) -> datetime | None:
    return value if value is not None and value.tzinfo is not None else None
