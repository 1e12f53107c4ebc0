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

from deskgate.models.enums import Channel
from deskgate.models.outbound import OutboundMessage, SendResult


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


def text_only(message: OutboundMessage, provider: str, max_len: int | None, *,
              in_bytes: bool = False) -> None:
    """The checks every messaging sender makes before its call: files go by email for now, and
    the text must fit the provider's limit (WeCom counts UTF-8 bytes, the others characters;
    None where we know of no documented limit)."""
    if message.attachments:
        raise Rejected(f"{provider} replies carry text only here; send files by email")
    if max_len is None:
        return
    size = len(message.text.encode()) if in_bytes else len(message.text)
    if size > max_len:
        unit = "bytes of text" if in_bytes else "characters"
        raise Rejected(f"{provider} takes at most {max_len} {unit} per message")


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
                   tokens: AccessTokens) -> SendResult: ...
