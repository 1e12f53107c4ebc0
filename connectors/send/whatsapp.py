"""WhatsApp Business Cloud API: POST {api_base}/{phone_number_id}/messages
(https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages).

Free text ({"type": "text"}) only inside the 24-hour customer-service window that the
customer's last message opened; outside it only an approved template ({"type": "template"})
may go (https://developers.facebook.com/docs/whatsapp/cloud-api/guides/send-message-templates).
When the window is known closed (OutboundMessage.window_opened_at) the reply's template is sent,
or WindowClosed raised without a call; when unknown, the text is tried and error 131047
("Re-engagement message") falls back to the template in the same attempt (a refused message
was not sent, so this sends nothing twice). The answer names the message: messages[0].id, the
wamid the status webhooks report. The Cloud API takes no idempotency key: a retry after a lost
answer may send once more.

Files: each is uploaded with POST {api_base}/{phone_number_id}/media (multipart: file,
type, messaging_product; https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media)
and sent as its own image/video/audio/document message by the media id, after the text. Media
ids live 30 days, so the id is recorded per reply: a retry neither uploads nor sends a part
that went (models/delivery.py LIMITS has the documented types and sizes). Files need the
window open: outside it only the template goes.
"""

from __future__ import annotations

import aiohttp
import msgspec

from deskgate.connectors.meta import MetaSettings
from deskgate.connectors.send.base import (
    AccessTokens,
    Files,
    Rejected,
    WindowClosed,
    check,
    media_id,
    send_parts,
)
from deskgate.connectors.send.http import request, upload_form
from deskgate.connectors.send.meta import auth, fail
from deskgate.connectors.send.window import window_open
from deskgate.models.delivery import MediaKind
from deskgate.models.enums import Channel
from deskgate.models.outbound import OutboundAttachment, OutboundMessage, SendResult, TemplateCall

MAX_TEXT = 4096
WINDOW_HOURS = 24
REENGAGEMENT = 131047
_WINDOW = {(REENGAGEMENT, 0)}


class MessageId(msgspec.Struct, frozen=True):
    id: str


class Sent(msgspec.Struct, frozen=True):
    messages: tuple[MessageId, ...]


class Uploaded(msgspec.Struct, frozen=True):
    id: str


def text_body(message: OutboundMessage) -> dict[str, object]:
    body: dict[str, object] = {"messaging_product": "whatsapp", "recipient_type": "individual",
                               "to": message.recipient.address, "type": "text",
                               "text": {"preview_url": False, "body": message.text}}
    if message.in_reply_to.startswith("wamid."):
        body["context"] = {"message_id": message.in_reply_to}
    return body


def media_body(message: OutboundMessage, kind: MediaKind, media: str,
               attachment: OutboundAttachment) -> dict[str, object]:
    spec = {"id": media} | ({"filename": attachment.name} if kind.kind == "document" else {})
    return {"messaging_product": "whatsapp", "recipient_type": "individual",
            "to": message.recipient.address, "type": kind.kind, kind.kind: spec}


def template_body(message: OutboundMessage, template: TemplateCall) -> dict[str, object]:
    spec: dict[str, object] = {"name": template.name, "language": {"code": template.language}}
    if template.parameters:
        spec["components"] = [{"type": "body", "parameters": [
            {"type": "text", "text": p} for p in template.parameters]}]
    return {"messaging_product": "whatsapp", "recipient_type": "individual",
            "to": message.recipient.address, "type": "template", "template": spec}


class WhatsAppSender:
    channel = Channel.WHATSAPP
    name = "whatsapp"

    async def send(self, message: OutboundMessage, settings: MetaSettings,
                   http: aiohttp.ClientSession, tokens: AccessTokens,
                   files: Files | None = None) -> SendResult:
        if not settings.access_token or not settings.phone_number_id:
            raise Rejected("this WhatsApp account has no access_token or phone_number_id: set "
                           "both in the channel settings to answer customers")
        kinds = check(message, "WhatsApp", MAX_TEXT)
        if window_open(message, WINDOW_HOURS) is False:
            if message.template is None or message.attachments:
                raise WindowClosed("WhatsApp: the customer last wrote more than 24 hours ago; "
                                   "only an approved template (without files) can be sent now")
            return SendResult(await self._post(template_body(message, message.template),
                                               settings, http))

        async def text() -> str:
            if message.text:
                try:
                    return await self._post(text_body(message), settings, http)
                except WindowClosed:
                    if message.template is None or message.attachments:
                        raise
            assert message.template is not None
            return await self._post(template_body(message, message.template), settings, http)

        async def send_file(i: int, a: OutboundAttachment, kind: MediaKind) -> str:
            assert files is not None
            async def upload(data: bytes) -> str:
                what = "WhatsApp media upload"
                answer = await request(
                    http, "POST", f"{settings.api_base}/{settings.phone_number_id}/media",
                    what=what, headers=auth(settings.access_token),
                    data=upload_form({"messaging_product": "whatsapp", "type": a.content_type},
                                     "file", a.name, a.content_type, data))
                if answer.status >= 300:
                    raise fail(answer, what, _WINDOW)
                return answer.json(Uploaded, what).id
            media = await media_id(files, message, i, upload)
            return await self._post(media_body(message, kind, media, a), settings, http)

        return await send_parts(message, files, kinds,
                                text if message.text or message.template else None, send_file)

    async def _post(self, body: dict[str, object], settings: MetaSettings,
                    http: aiohttp.ClientSession) -> str:
        what = f"WhatsApp {body['type']} message"
        answer = await request(http, "POST",
                               f"{settings.api_base}/{settings.phone_number_id}/messages",
                               what=what, json=body, headers=auth(settings.access_token))
        if answer.status >= 300:
            raise fail(answer, what, _WINDOW)
        sent = answer.json(Sent, what)
        if not sent.messages:
            raise Rejected(f"{what}: accepted without a message id")
        return sent.messages[0].id
