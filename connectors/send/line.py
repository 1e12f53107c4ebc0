"""LINE Messaging API: reply with the replyToken while it is fresh, else push
(https://developers.line.biz/en/reference/messaging-api/#send-reply-message,
https://developers.line.biz/en/reference/messaging-api/#send-push-message), with the channel
access token as bearer.

The reply API is free but its token is good once and only shortly after the customer's
message (OutboundMessage.in_reply_to = the token, window_opened_at = when it came): a reply is
tried only within REPLY_SECONDS, and "Invalid reply token" falls back to push. Push carries
X-Line-Retry-Key (https://developers.line.biz/en/docs/messaging-api/retrying-api-request/), a
UUID derived from the reply id: LINE executes a push once per key and answers a repeat 409
(with x-line-accepted-request-id), which is success. So a push is never sent twice; the reply
API takes no retry key (LINE answers 400 if given one), so a worker killed after a reply was
accepted retries with a spent token and pushes: at most once more, on that path only.
Errors are {"message", "details"}; 429 is a rate limit (retry) unless it says the monthly
message quota is used up (nothing to retry until the quota resets or is raised).

Images go in the same call as the text (a call carries up to 5 messages), as image messages
whose originalContentUrl and previewImageUrl are our signed public link to the file
(https://developers.line.biz/en/reference/messaging-api/#image-message: HTTPS, JPEG or PNG;
the preview is at most 1 MB, so images are too): one call, one retry key, nothing repeats.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import NoReturn

import aiohttp
import msgspec

from deskgate.connectors.line import LineSettings
from deskgate.connectors.send.base import AccessTokens, Files, Rejected, RetryLater, check
from deskgate.connectors.send.http import Answer, reason, request
from deskgate.models.enums import Channel
from deskgate.models.outbound import OutboundMessage, SendResult

MAX_TEXT = 5000
REPLY_SECONDS = 50        # LINE: use a reply token soon; its exact life is not promised
ADMIN_WAIT = 300.0
RETRY_KEY_NAMESPACE = uuid.UUID("6f1c2d0e-5b7a-4c3e-9a51-2f8d4e7b9c10")


class SentMessage(msgspec.Struct, frozen=True):
    id: str


class Sent(msgspec.Struct, frozen=True, rename="camel"):
    sent_messages: tuple[SentMessage, ...] = ()


class Error(msgspec.Struct, frozen=True):
    message: str = ""


def retry_key(reply_id: str) -> str:
    """The same UUID for every attempt of one reply (LINE wants a hexadecimal UUID)."""
    try:
        return str(uuid.UUID(reply_id))
    except ValueError:
        return str(uuid.uuid5(RETRY_KEY_NAMESPACE, reply_id))


def _error(answer: Answer) -> str:
    try:
        return reason(msgspec.json.decode(answer.body, type=Error).message) or answer.text()
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):
        return answer.text()


def _quota(answer: Answer) -> None:
    if answer.status == 429 and "monthly limit" in _error(answer).lower():
        raise Rejected(f"LINE: {_error(answer)}: the channel's monthly message quota is used "
                       "up")


def _reply_fresh(message: OutboundMessage) -> bool:
    opened = message.window_opened_at
    # a reply token is 32 hex digits; a bare LINE message id (all decimal) is not one
    if not message.in_reply_to or message.in_reply_to.isdigit() or opened is None:
        return False
    if opened.tzinfo is None:
        opened = opened.replace(tzinfo=UTC)
    return (datetime.now(UTC) - opened).total_seconds() < REPLY_SECONDS


class LineSender:
    channel = Channel.LINE
    name = "line"

    async def send(self, message: OutboundMessage, settings: LineSettings,
                   http: aiohttp.ClientSession, tokens: AccessTokens,
                   files: Files | None = None) -> SendResult:
        if not settings.channel_access_token:
            raise Rejected("this LINE account has no channel_access_token: set it in the "
                           "channel settings to answer customers")
        check(message, "LINE", MAX_TEXT)
        auth = {"Authorization": f"Bearer {settings.channel_access_token}"}
        messages = [{"type": "text", "text": message.text}] if message.text else []
        if message.attachments:
            if files is None:
                raise Rejected("this sender was started without access to the file store")
            for i in range(len(message.attachments)):
                url = await files.link(message, i)
                if not url.startswith("https://"):
                    raise Rejected("LINE fetches images over HTTPS only: set http.public_url "
                                   "to the gateway's public https:// address")
                messages.append({"type": "image", "originalContentUrl": url,
                                 "previewImageUrl": url})
        if _reply_fresh(message):
            answer = await request(http, "POST", f"{settings.api_base}/v2/bot/message/reply",
                                   what="LINE reply", headers=auth, inspect=_quota,
                                   json={"replyToken": message.in_reply_to,
                                         "messages": messages})
            if answer.status == 200:
                return self._result(answer, "LINE reply")
            if answer.status != 400 or "reply token" not in _error(answer).lower():
                self._fail(answer, "LINE reply")
        answer = await request(http, "POST", f"{settings.api_base}/v2/bot/message/push",
                               what="LINE push", inspect=_quota,
                               headers=auth | {"X-Line-Retry-Key": retry_key(message.reply_id)},
                               json={"to": message.recipient.address, "messages": messages})
        if answer.status == 200:
            return self._result(answer, "LINE push")
        if answer.status == 409:       # this retry key was accepted before: sent once already
            sent = answer.json(Sent, "LINE push")
            accepted = answer.headers.get("x-line-accepted-request-id", "")
            return SendResult(sent.sent_messages[0].id if sent.sent_messages
                              else f"line-request:{accepted}")
        self._fail(answer, "LINE push")

    @staticmethod
    def _result(answer: Answer, what: str) -> SendResult:
        sent = answer.json(Sent, what)
        if not sent.sent_messages:
            raise RetryLater(f"{what}: accepted without sentMessages")
        return SendResult(sent.sent_messages[0].id)

    @staticmethod
    def _fail(answer: Answer, what: str) -> NoReturn:
        text = _error(answer)
        if answer.status == 401:
            raise RetryLater(f"{what}: LINE refused the channel_access_token ({text}); put a "
                             "valid one in the channel settings", ADMIN_WAIT)
        raise Rejected(f"{what}: {text}")
