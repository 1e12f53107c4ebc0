"""Telegram Bot API `sendMessage` (https://core.telegram.org/bots/api#sendmessage).

POST {api_base}/bot<token>/sendMessage with JSON {chat_id, text, reply_parameters?}; the
answer is {"ok": true, "result": Message} or {"ok": false, "error_code", "description",
"parameters": {"retry_after"}} (https://core.telegram.org/bots/api#making-requests). Telegram
has no customer-service window and no idempotency key: a retry after a lost answer may send the
text once more. Text is limited to 4,096 characters.

Files go after the text, one message each, uploaded as multipart/form-data: images by
sendPhoto (field `photo`, 10 MB, https://core.telegram.org/bots/api#sendphoto), anything else
by sendDocument (field `document`, 50 MB, https://core.telegram.org/bots/api#senddocument). Each
part is recorded as it is accepted, so a retry sends only what had not gone.
"""

from __future__ import annotations

import aiohttp
import msgspec

from deskgate.connectors.send.base import (
    AccessTokens,
    Files,
    Rejected,
    RetryLater,
    check,
    send_parts,
)
from deskgate.connectors.send.http import Answer as HttpAnswer
from deskgate.connectors.send.http import reason, request, upload_form
from deskgate.connectors.telegram import TelegramSettings
from deskgate.models.delivery import MediaKind
from deskgate.models.enums import Channel
from deskgate.models.outbound import OutboundAttachment, OutboundMessage, SendResult

MAX_TEXT = 4096


class Sent(msgspec.Struct, frozen=True):
    message_id: int


class Parameters(msgspec.Struct, frozen=True):
    retry_after: float | None = None


class Answer(msgspec.Struct, frozen=True):
    ok: bool
    result: Sent | None = None
    error_code: int = 0
    description: str = ""
    parameters: Parameters | None = None


class TelegramSender:
    channel = Channel.TELEGRAM
    name = "telegram"

    async def send(self, message: OutboundMessage, settings: TelegramSettings,
                   http: aiohttp.ClientSession, tokens: AccessTokens,
                   files: Files | None = None) -> SendResult:
        if not settings.bot_token:
            raise Rejected("this Telegram account has no bot_token: set it in the channel "
                           "settings to answer customers")
        kinds = check(message, "Telegram", MAX_TEXT)
        chat = message.recipient.address
        base = f"{settings.api_base}/bot{settings.bot_token}"

        async def text() -> str:
            body: dict[str, object] = {"chat_id": chat, "text": message.text}
            replied_chat, _, replied = message.in_reply_to.partition(":")  # "<chat>:<msg>"
            if replied_chat == chat and replied.isdigit():
                body["reply_parameters"] = {"message_id": int(replied),
                                            "allow_sending_without_reply": True}
            return await _call(http, f"{base}/sendMessage", "Telegram sendMessage", chat,
                               json=body)

        async def send_file(i: int, a: OutboundAttachment, kind: MediaKind) -> str:
            assert files is not None
            method = "sendPhoto" if kind.kind == "photo" else "sendDocument"
            form = upload_form({"chat_id": chat}, kind.kind, a.name, a.content_type,
                               await files.read(a.ref))
            return await _call(http, f"{base}/{method}", f"Telegram {method}", chat, data=form)

        return await send_parts(message, files, kinds, text if message.text else None,
                                send_file)


async def _call(http: aiohttp.ClientSession, url: str, what: str, chat: str, *,
                json: object = None, data: aiohttp.FormData | None = None) -> str:
    """One Bot API call; the sent message as "<chat>:<message id>"."""
    answer = await request(http, "POST", url, what=what, json=json, data=data,
                           retry_hint=_retry_after)
    got = answer.json(Answer, what)
    if got.ok and got.result is not None:
        return f"{chat}:{got.result.message_id}"
    text = reason(got.description) or answer.text()
    if got.parameters is not None and got.parameters.retry_after is not None:
        raise RetryLater(f"Telegram: {text}", got.parameters.retry_after)
    if answer.status == 401:
        raise RetryLater(f"Telegram refused the bot_token ({text}); put the right one in "
                         "the channel settings", 300)
    raise Rejected(f"Telegram: {text}")


def _retry_after(answer: HttpAnswer) -> float | None:
    try:
        got = msgspec.json.decode(answer.body, type=Answer)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):
        return None
    return got.parameters.retry_after if got.parameters is not None else None
