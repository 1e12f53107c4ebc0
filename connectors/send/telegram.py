"""Telegram Bot API `sendMessage` (https://core.telegram.org/bots/api#sendmessage).

POST {api_base}/bot<token>/sendMessage with JSON {chat_id, text, reply_parameters?}; the
answer is {"ok": true, "result": Message} or {"ok": false, "error_code", "description",
"parameters": {"retry_after"}} (https://core.telegram.org/bots/api#making-requests). Telegram
has no customer-service window and no idempotency key: a retry after a lost answer may send the
text once more. Text is limited to 4,096 characters.
"""

from __future__ import annotations

import aiohttp
import msgspec

from deskgate.connectors.send.base import AccessTokens, Rejected, RetryLater, text_only
from deskgate.connectors.send.http import Answer as HttpAnswer
from deskgate.connectors.send.http import reason, request
from deskgate.connectors.telegram import TelegramSettings
from deskgate.models.enums import Channel
from deskgate.models.outbound import OutboundMessage, SendResult

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
                   http: aiohttp.ClientSession, tokens: AccessTokens) -> SendResult:
        if not settings.bot_token:
            raise Rejected("this Telegram account has no bot_token: set it in the channel "
                           "settings to answer customers")
        text_only(message, "Telegram", MAX_TEXT)
        body: dict[str, object] = {"chat_id": message.recipient.address, "text": message.text}
        chat, _, replied = message.in_reply_to.partition(":")   # payload_id "<chat>:<msg>"
        if chat == message.recipient.address and replied.isdigit():
            body["reply_parameters"] = {"message_id": int(replied),
                                        "allow_sending_without_reply": True}
        answer = await request(http, "POST",
                               f"{settings.api_base}/bot{settings.bot_token}/sendMessage",
                               what="Telegram sendMessage", json=body, retry_hint=_retry_after)
        got = answer.json(Answer, "Telegram sendMessage")
        if got.ok and got.result is not None:
            return SendResult(f"{message.recipient.address}:{got.result.message_id}")
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
