"""Twilio Programmable Messaging: POST {api_base}/2010-04-01/Accounts/{AccountSid}/Messages.json,
form-encoded To, From (or MessagingServiceSid), Body, with HTTP Basic auth AccountSid:AuthToken
(https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource).

SMS/MMS go to the customer's E.164 number from `from_number`; WhatsApp through Twilio goes
"whatsapp:+…" to "whatsapp:+…" from `whatsapp_from`, free text only inside the 24-hour window
(https://www.twilio.com/docs/whatsapp/key-concepts#the-24-hour-window-or-24-hour-session),
outside it an approved Content template (TemplateCall.name = its ContentSid "HX…",
parameters = ContentVariables "1", "2", …). The answer (201) is the Message resource: its
`sid` names the message in the status callbacks. Errors are {"code", "message", "more_info",
"status"} (https://www.twilio.com/docs/api/errors): 20429 / HTTP 429 too many requests (retry),
20003 authentication (an admin must fix the credentials), 63016 outside the WhatsApp window.
Twilio's Messages API takes no idempotency key: a retry after a lost answer may send once more.

Files: Twilio fetches each MediaUrl itself, so they are our signed public links to the reply's
files (https://www.twilio.com/docs/messaging/api/message-resource#request-body-parameters).
SMS: one MMS carries the text and up to 10 media (5 MB together). WhatsApp: one medium per
message, so the text goes first and each file after it, each part recorded as it is accepted
(a retry sends only what had not gone).
"""

from __future__ import annotations

import aiohttp
import msgspec

from deskgate.connectors.send.base import (
    AccessTokens,
    Files,
    Rejected,
    RetryLater,
    WindowClosed,
    check,
    send_parts,
)
from deskgate.connectors.send.http import reason, request
from deskgate.connectors.send.window import window_open
from deskgate.connectors.twilio import TwilioSettings
from deskgate.models.delivery import MediaKind
from deskgate.models.enums import Channel
from deskgate.models.outbound import OutboundAttachment, OutboundMessage, SendResult

MAX_TEXT = 1600            # Twilio's Body limit (characters)
WINDOW_HOURS = 24
ADMIN_WAIT = 300.0
_WINDOW = {63016}
_AUTH = {20003}


class Created(msgspec.Struct, frozen=True):
    sid: str
    status: str = ""


class Error(msgspec.Struct, frozen=True):
    code: int = 0
    message: str = ""
    more_info: str = ""


def _form(message: OutboundMessage, settings: TwilioSettings) -> dict[str, str]:
    whatsapp = message.recipient.channel == Channel.WHATSAPP
    to = message.recipient.address.removeprefix("whatsapp:")
    form = {"To": f"whatsapp:{to}" if whatsapp else to}
    if settings.messaging_service_sid:
        form["MessagingServiceSid"] = settings.messaging_service_sid
    else:
        sender = settings.whatsapp_from if whatsapp else settings.from_number
        if not sender:
            field = "whatsapp_from" if whatsapp else "from_number"
            raise Rejected(f"this Twilio account has no {field} (or messaging_service_sid): "
                           "set it in the channel settings")
        form["From"] = f"whatsapp:{sender.removeprefix('whatsapp:')}" if whatsapp else sender
    if whatsapp and window_open(message, WINDOW_HOURS) is False:
        if message.template is None or message.attachments:
            raise WindowClosed("WhatsApp (Twilio): the customer last wrote more than 24 hours "
                               "ago; only an approved template (without files) can be sent "
                               "now")
        form["ContentSid"] = message.template.name
        if message.template.parameters:
            form["ContentVariables"] = msgspec.json.encode(
                {str(i): p for i, p in enumerate(message.template.parameters, 1)}).decode()
        return form
    if message.text:
        form["Body"] = message.text
    return form


class TwilioSender:
    channel = Channel.SMS          # and WhatsApp through Twilio: the recipient's channel says
    name = "twilio"

    async def send(self, message: OutboundMessage, settings: TwilioSettings,
                   http: aiohttp.ClientSession, tokens: AccessTokens,
                   files: Files | None = None) -> SendResult:
        if not settings.account_sid:
            raise Rejected("this Twilio account has no account_sid: set it in the channel "
                           "settings to answer customers")
        kinds = check(message, "Twilio", MAX_TEXT)
        form = _form(message, settings)
        if message.recipient.channel is not Channel.WHATSAPP:
            media = [("MediaUrl", await _link(files, message, i))
                     for i in range(len(message.attachments))]
            return SendResult(await self._post(http, settings, [*form.items(), *media]))
        form.pop("Body", None)

        async def text() -> str:
            return await self._post(http, settings, list(_form(message, settings).items()))

        async def send_file(i: int, a: OutboundAttachment, kind: MediaKind) -> str:
            return await self._post(http, settings, [*form.items(),
                                                     ("MediaUrl", await _link(files, message, i))])

        return await send_parts(message, files, kinds,
                                text if message.text or "ContentSid" in form else None,
                                send_file)

    @staticmethod
    async def _post(http: aiohttp.ClientSession, settings: TwilioSettings,
                    fields: list[tuple[str, str]]) -> str:
        what = "Twilio Messages API"
        answer = await request(
            http, "POST",
            f"{settings.api_base}/2010-04-01/Accounts/{settings.account_sid}/Messages.json",
            what=what, data=aiohttp.FormData(fields),
            headers={"Authorization": aiohttp.encode_basic_auth(settings.account_sid,
                                                                settings.auth_token)})
        if answer.status < 300:
            return answer.json(Created, what).sid
        try:
            e = msgspec.json.decode(answer.body, type=Error)
        except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):
            raise Rejected(f"{what}: HTTP {answer.status} {answer.text()}") from None
        text = f"{reason(e.message)} (code {e.code}" + (f", {e.more_info})" if e.more_info
                                                          else ")")
        if e.code in _WINDOW:
            raise WindowClosed(f"{what}: the WhatsApp window is closed: {text}")
        if e.code in _AUTH or answer.status == 401:
            raise RetryLater(f"{what}: Twilio refused the credentials ({text}); check "
                             "account_sid and auth_token", ADMIN_WAIT)
        raise Rejected(f"{what}: {text}")


async def _link(files: Files | None, message: OutboundMessage, index: int) -> str:
    if files is None:
        raise Rejected("this sender was started without access to the file store")
    return await files.link(message, index)
