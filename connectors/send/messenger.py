"""Messenger and Instagram messaging through the Send API: POST {api_base}/me/messages with the
page access token (https://developers.facebook.com/docs/messenger-platform/reference/send-api/,
https://developers.facebook.com/docs/messenger-platform/instagram/features/send-message).

Inside the 24-hour window that the customer's last message opened, a reply goes with
messaging_type RESPONSE. After it, only a tagged message may go: HUMAN_AGENT allows a human
agent's answer for 7 days (https://developers.facebook.com/docs/messenger-platform/send-messages/message-tags),
when the app was granted that permission (the account's `human_agent` setting). Beyond that,
or untagged, the reply is WindowClosed; Meta's own verdict, error 10 / subcode 2018278
("sent outside of allowed window"), is WindowClosed too. The answer's message_id is the mid
the delivery/read webhooks report. No idempotency key: a retry after a lost answer may send
once more.

Files go after the text, one message each, uploaded with the send itself: the same endpoint as
multipart/form-data with `recipient`, `message` = {"attachment": {"type", "payload":
{"is_reusable": false}}} and the file as `filedata`
(https://developers.facebook.com/docs/messenger-platform/send-messages/saving-assets). Each
part is recorded as it is accepted, so a retry sends only what had not gone.
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
    send_parts,
)
from deskgate.connectors.send.http import request, upload_form
from deskgate.connectors.send.meta import auth, fail
from deskgate.connectors.send.window import window_open
from deskgate.models.delivery import MediaKind
from deskgate.models.enums import Channel
from deskgate.models.outbound import OutboundAttachment, OutboundMessage, SendResult

WINDOW_HOURS = 24
HUMAN_AGENT_HOURS = 7 * 24
_WINDOW = {(10, 2018278)}        # "message sent outside of allowed window"


class Sent(msgspec.Struct, frozen=True):
    message_id: str
    recipient_id: str = ""


class _SendApi:
    channel: Channel
    name: str
    label: str
    max_text: int

    async def send(self, message: OutboundMessage, settings: MetaSettings,
                   http: aiohttp.ClientSession, tokens: AccessTokens,
                   files: Files | None = None) -> SendResult:
        if not settings.access_token:
            raise Rejected(f"this {self.label} account has no access_token: set the page "
                           "access token in the channel settings to answer customers")
        kinds = check(message, self.label, self.max_text)
        envelope: dict[str, object] = {"recipient": {"id": message.recipient.address},
                                       "messaging_type": "RESPONSE"}
        if window_open(message, WINDOW_HOURS) is False:
            if not settings.human_agent or not window_open(message, HUMAN_AGENT_HOURS):
                raise WindowClosed(
                    f"{self.label}: the customer last wrote more than "
                    f"{'7 days' if settings.human_agent else '24 hours'} ago; they must write "
                    "again before an answer can reach them")
            envelope |= {"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}
        what = f"{self.label} Send API"
        url = f"{settings.api_base}/me/messages"

        async def text() -> str:
            return await self._post(http, settings, url, what,
                                    json=envelope | {"message": {"text": message.text}})

        async def send_file(i: int, a: OutboundAttachment, kind: MediaKind) -> str:
            assert files is not None
            fields = {k: v if isinstance(v, str) else msgspec.json.encode(v).decode()
                      for k, v in envelope.items()}
            fields["message"] = msgspec.json.encode({"attachment": {
                "type": kind.kind, "payload": {"is_reusable": False}}}).decode()
            form = upload_form(fields, "filedata", a.name, a.content_type,
                               await files.read(a.ref))
            return await self._post(http, settings, url, f"{what} {kind.kind}", data=form)

        return await send_parts(message, files, kinds, text if message.text else None,
                                send_file)

    @staticmethod
    async def _post(http: aiohttp.ClientSession, settings: MetaSettings, url: str, what: str,
                    *, json: object = None, data: aiohttp.FormData | None = None) -> str:
        answer = await request(http, "POST", url, what=what, json=json, data=data,
                               headers=auth(settings.access_token))
        if answer.status >= 300:
            raise fail(answer, what, _WINDOW)
        return answer.json(Sent, what).message_id


class MessengerSender(_SendApi):
    channel = Channel.MESSENGER
    name = "messenger"
    label = "Messenger"
    max_text = 2000


class InstagramSender(_SendApi):
    channel = Channel.INSTAGRAM
    name = "instagram"
    label = "Instagram"
    max_text = 1000
