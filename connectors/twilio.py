"""Twilio Programmable Messaging webhooks: inbound SMS/MMS, WhatsApp via Twilio, and status
callbacks, all form-encoded.

`X-Twilio-Signature` = base64(HMAC-SHA1(auth token, URL + every POST parameter as name+value,
sorted by name)). The URL is the one configured in Twilio, so behind a proxy set
`http.public_url` (or the account's `webhook_url`); like Twilio's own validator we accept the
URL with or without the scheme's default port. Twilio retries on errors and expects TwiML back;
an empty <Response/> means "no reply".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

import msgspec

from deskgate.connectors.base import (
    BadPayload,
    Delivery,
    Reply,
    Unauthorized,
    WebhookRequest,
    clip,
    load_settings,
    no_handshake,
    parse_form,
    platform_id,
    require,
)
from deskgate.connectors.media import MediaPolicy
from deskgate.connectors.send.http import check_api_base
from deskgate.models.enums import Channel, IdentityKind, MessageKind
from deskgate.models.message import Attachment, Identity, InboundMessage, Sender
from deskgate.models.outbound import TemplateSpec
from deskgate.models.phone import normalize_phone

SIGNATURE_HEADER = "X-Twilio-Signature"
EMPTY_TWIML = Reply(200, b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>',
                    "text/xml")
MEDIA = MediaPolicy(hosts=("twilio.com", "twiliocdn.com"))
MAX_MEDIA = 10       # Twilio's own limit per MMS


TWILIO_API = "https://api.twilio.com"


class TwilioSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    auth_token: str
    account_sid: str = ""      # when set, deliveries for another account are refused
    webhook_url: str = ""      # the exact URL configured in Twilio, if not ours as seen
    default_region: str = "CN"
    skill: str = ""
    # outbound (connectors/send/twilio.py; account_sid is needed): who answers SMS/MMS, who
    # answers WhatsApp ("whatsapp:+…"), or a Messaging Service choosing the sender
    from_number: str = ""
    whatsapp_from: str = ""
    messaging_service_sid: str = ""
    api_base: str = TWILIO_API
    # WhatsApp Content templates (name = the ContentSid "HX…") for after the 24-hour window
    templates: Annotated[tuple[TemplateSpec, ...], msgspec.Meta(max_length=200)] = ()

    def __post_init__(self) -> None:
        if len(self.auth_token) < 16:
            raise ValueError("auth_token looks wrong (Twilio's are 32 characters)")
        check_api_base(self.api_base)


def signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    data = url + "".join(k + params[k] for k in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _url_variants(url: str) -> tuple[str, ...]:
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    if default is None:
        return (url,)
    if parts.port is None:
        return (url, urlunsplit(parts._replace(netloc=f"{parts.netloc}:{default}")))
    if parts.port == default:
        return (url, urlunsplit(parts._replace(netloc=parts.netloc.rsplit(":", 1)[0])))
    return (url,)


class TwilioConnector:
    name = "twilio"
    settings_type = TwilioSettings

    def settings(self, raw: Mapping[str, Any]) -> TwilioSettings:
        return load_settings(raw, TwilioSettings, "channels.twilio")

    def handshake(self, settings: TwilioSettings, request: WebhookRequest) -> Reply:
        return no_handshake(request)

    def handle(self, account: str, settings: TwilioSettings,
               request: WebhookRequest) -> Delivery:
        params = verified_params(settings.auth_token, settings.account_sid,
                                 settings.webhook_url, request)
        return Delivery((_message(account, settings, params, request),), EMPTY_TWIML)


def verified_params(auth_token: str, account_sid: str, webhook_url: str,
                    request: WebhookRequest) -> dict[str, str]:
    """The POST parameters of a request proven to come from Twilio (Messaging and Voice sign
    alike), for the account `account_sid` when one is configured."""
    given = request.header(SIGNATURE_HEADER)
    if not given:
        raise Unauthorized("missing_signature", "X-Twilio-Signature is missing", status=401)
    try:
        params = parse_form(request.body)
    except BadPayload:
        # Unsigned garbage is a forgery until proven otherwise; do not echo a parse error.
        raise Unauthorized("bad_signature", "the signature does not match") from None
    url = webhook_url or request.url
    if not any(hmac.compare_digest(signature(auth_token, u, params).encode(),
                                   given.encode()) for u in _url_variants(url)):
        raise Unauthorized("bad_signature", "the signature does not match")
    if account_sid and params.get("AccountSid") != account_sid:
        raise Unauthorized("wrong_account", "AccountSid is not this account's")
    return params


def caller(account: str, raw: str, region: str, channel: Channel = Channel.SMS) -> Identity:
    phone = normalize_phone(raw, region)
    if phone is not None:
        return Identity(IdentityKind.PHONE, phone)
    # short codes, alphanumeric sender ids and withheld caller ids are not phone numbers
    return Identity(IdentityKind.PLATFORM, platform_id(channel, account, raw[:64]))


def _message(account: str, settings: TwilioSettings, p: dict[str, str],
             request: WebhookRequest) -> InboundMessage:
    sid = p.get("MessageSid") or p.get("SmsSid", "")
    sender, to = p.get("From", ""), p.get("To", "")
    require(bool(sid) and len(sid) <= 64, "MessageSid is missing")
    require(bool(sender) and bool(to), "From and To are required")
    channel = Channel.WHATSAPP if sender.startswith("whatsapp:") or to.startswith("whatsapp:") \
        else Channel.SMS
    status = p.get("MessageStatus", "")
    customer = to if status else sender   # a status callback is about our message to them
    who = caller(account, customer, settings.default_region)
    ours = caller(account, sender if status else to, settings.default_region)
    thread = f"{who.value}:{ours.value}"
    if status:
        return InboundMessage(
            channel=channel, account=account, external_id=f"status:{sid}:{status[:20]}",
            sender=Sender((who,)), received_at=request.received_at, thread_key=thread,
            kind=MessageKind.STATUS, kind_reason=f"status {status[:20]}", payload_id=sid,
            meta={"status": status[:20]})
    try:
        count = int(p.get("NumMedia", "0") or 0)
    except ValueError:
        raise BadPayload("NumMedia is not a number") from None
    require(0 <= count <= MAX_MEDIA, f"NumMedia must be 0-{MAX_MEDIA}")
    attachments = []
    for i in range(count):
        url = p.get(f"MediaUrl{i}", "")
        require(bool(url), f"MediaUrl{i} is missing")
        attachments.append(Attachment(
            name=f"media{i}", content_type=p.get(f"MediaContentType{i}", "")[:127]
            or "application/octet-stream", ref=MEDIA.ref(url)))
    meta = {k: p[k][:64] for k in ("AccountSid", "MessagingServiceSid", "FromCountry", "WaId")
            if p.get(k)}
    return InboundMessage(
        channel=channel, account=account, external_id=sid,
        sender=Sender((who,), name=p.get("ProfileName", "")[:200]),
        received_at=request.received_at, text=clip(p.get("Body", "")), thread_key=thread,
        attachments=tuple(attachments), payload_id=sid, skill_hint=settings.skill, meta=meta)
