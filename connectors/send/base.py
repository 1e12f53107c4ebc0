"""What every channel's sender shares: the call, the ways it fails, and the access tokens some
providers need.

A sender is the outbound twin of a connector: given one OutboundMessage and the account's
settings, it makes the provider's documented API call and says what happened. It does no
bookkeeping (outbox, retries, delivery state on the thread): the sender worker does that from
the result or the error raised here, so every channel retries and fails the same way.

Provider base URLs and credentials come only from the account's settings (configuration), never
from a payload; every request has a timeout and a size limit (the worker's ClientSession).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import aiohttp

from deskgate.models.delivery import MediaKind, file_refusal, limits
from deskgate.models.enums import Channel
from deskgate.models.outbound import OutboundAttachment, OutboundMessage, SendResult


class SendError(Exception):
    """A send that did not happen. `reason` is the provider's words (shown on the thread)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RetryLater(SendError):
    """Try again: 5xx, 429 (`retry_after` from Retry-After when the provider sent one), a
    timeout, a connection error, an access token that expired (after invalidating it)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class Rejected(SendError):
    """Never retry: the provider refused this message for good (4xx other than 429, bad
    recipient, content refused). The reply is marked failed with the reason."""


class WindowClosed(Rejected):
    """The channel's customer-service window has closed (WhatsApp and Messenger 24 h, WeChat
    48 h): only a template or a tagged message may go now."""


def check(message: OutboundMessage, provider: str, max_len: int | None, *,
          in_bytes: bool = False) -> list[MediaKind]:
    """The checks every messaging sender makes before its first call, so that no part of a
    reply goes when another part cannot: the text within the provider's limit (WeCom counts
    UTF-8 bytes, the others characters; None where we know of no documented limit) and each
    file of a kind and size the channel documents (models/delivery.py LIMITS). Returns each
    file's kind, in order."""
    if max_len is not None:
        size = len(message.text.encode()) if in_bytes else len(message.text)
        if size > max_len:
            unit = "bytes of text" if in_bytes else "characters"
            raise Rejected(f"{provider} takes at most {max_len} {unit} per message")
    rules = limits(message.recipient.channel).files
    refusal = file_refusal(rules, provider, message.attachments)
    if refusal:
        raise Rejected(refusal)
    return [k for a in message.attachments if (k := rules.kind_of(a.content_type))]


class Files(Protocol):
    """What a sender needs for a reply's files: their bytes (for providers that take an
    upload), a public link to one (for providers that fetch it), and the reply's progress, so
    that a retry sends neither a part that went nor uploads a file twice. Progress parts are
    "text", "file:<i>" (a provider message id) and "media:<i>" (an uploaded media id)."""

    async def read(self, ref: str) -> bytes: ...

    async def link(self, message: OutboundMessage, index: int) -> str: ...

    async def progress(self, reply_id: str) -> dict[str, str]: ...

    async def record(self, reply_id: str, part: str, value: str) -> None: ...


SendFile = Callable[[int, OutboundAttachment, MediaKind], Awaitable[str]]


async def send_parts(message: OutboundMessage, files: Files | None, kinds: list[MediaKind],
                     text: Callable[[], Awaitable[str]] | None, send_file: SendFile) -> SendResult:
    """The text (when there is one) and then one message per file, each part recorded as it
    is accepted and skipped on a retry. The result names the first part (status callbacks
    then move the reply on). A part the provider refuses for good fails the reply, saying
    which parts had gone."""
    if not message.attachments:
        if text is None:
            raise Rejected("nothing to send: the reply has neither text nor files")
        return SendResult(await text())
    if files is None:
        raise Rejected("this sender was started without access to the file store")
    done = await files.progress(message.reply_id)
    first = done.get("text", "")
    sent = ["the text"] if first else []
    try:
        if text is not None and not first:
            first = await text()
            await files.record(message.reply_id, "text", first)
            sent.append("the text")
        for i, (a, kind) in enumerate(zip(message.attachments, kinds, strict=True)):
            pid = done.get(f"file:{i}", "")
            if not pid:
                pid = await send_file(i, a, kind)
                await files.record(message.reply_id, f"file:{i}", pid)
            first = first or pid
            sent.append(a.name)
    except Rejected as exc:
        if sent:
            raise type(exc)(f"{exc.reason} (already sent: {', '.join(sent)})") from exc
        raise
    return SendResult(first)


async def media_id(files: Files, message: OutboundMessage, index: int,
                   upload: Callable[[bytes], Awaitable[str]]) -> str:
    """The provider's media id of file `index`: uploaded once per reply, its id recorded, so
    that a retry after the upload (the send failed) does not upload it again."""
    part = f"media:{index}"
    known = (await files.progress(message.reply_id)).get(part)
    if known:
        return known
    uploaded = await upload(await files.read(message.attachments[index].ref))
    await files.record(message.reply_id, part, uploaded)
    return uploaded


class AccessTokens(Protocol):
    """Short-lived provider access tokens (WeChat, WeCom, …) cached in Redis and refreshed by one
    process before expiry. `fetch` returns (token, seconds it lives)."""

    async def get(self, key: str, fetch: Callable[[], Awaitable[tuple[str, int]]]) -> str: ...

    async def invalidate(self, key: str, token: str) -> None: ...


class Sender(Protocol):
    """One channel's outbound side. `settings` is the account's validated settings struct (the
    same one the inbound connector uses, with its outbound fields)."""

    channel: Channel

    async def send(self, message: OutboundMessage, settings: Any, http: aiohttp.ClientSession,
                   tokens: AccessTokens, files: Files | None = None) -> SendResult: ...
