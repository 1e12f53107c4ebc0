"""The one way a sender talks to a provider: a bounded HTTP request whose transport failures,
429s and 5xx all become RetryLater (with the provider's Retry-After), and whose other answers
come back for the sender to read in the provider's own error format.

Every request has its own timeout (on top of the worker session's) and reads at most
MAX_RESPONSE bytes: a provider, or anything posing as one at a misconfigured api_base, cannot
stall or flood a sender worker.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
import msgspec
from redis.exceptions import RedisError

from deskgate.connectors.send.base import AccessTokens, Rejected, RetryLater
from deskgate.models.errors import Unavailable

log = logging.getLogger("deskgate.send")

TIMEOUT = aiohttp.ClientTimeout(total=15, sock_connect=5)
MAX_RESPONSE = 256 * 1024
MAX_RETRY_AFTER = 24 * 3600.0
MAX_REASON = 500            # characters of a provider's error text kept as the reason

T = TypeVar("T")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Answer(msgspec.Struct, frozen=True):
    status: int
    headers: Mapping[str, str]
    body: bytes

    def text(self) -> str:
        return reason(self.body.decode("utf-8", "replace"))

    def json(self, type_: type[T], what: str) -> T:
        """The body as the provider documents it; anything else from a 2xx is a provider we do
        not understand, so the message's fate is unknown: retry (the key keeps it once)."""
        try:
            return msgspec.json.decode(self.body, type=type_)
        except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
            raise RetryLater(f"{what}: unreadable answer (HTTP {self.status}): {exc}") from exc


def retry_after(value: str, now: datetime | None = None) -> float | None:
    """Retry-After as seconds (RFC 9110: delay-seconds or an HTTP-date), capped; None if absent
    or unreadable."""
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:       # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def reason(text: str) -> str:
    return " ".join(text.split())[:MAX_REASON]


def check_api_base(url: str) -> None:
    """For settings: an api_base is an absolute http(s) URL without query or fragment (tests
    point it at a stand-in; production leaves the official default)."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.query \
            or parts.fragment:
        raise ValueError(f"api_base must be an http(s) URL like https://host/path, not {url!r}")


async def request(http: aiohttp.ClientSession, method: str, url: str, *, what: str,
                  json: Any = None, data: Mapping[str, str] | aiohttp.FormData | None = None,
                  params: Mapping[str, str] | None = None,
                  headers: Mapping[str, str] | None = None,
                  retry_hint: Callable[[Answer], float | None] | None = None,
                  inspect: Callable[[Answer], None] | None = None,
                  max_bytes: int = MAX_RESPONSE) -> Answer:
    """One call. Returns any answer below 500 other than 429; raises RetryLater for those and
    for timeouts, refused connections and oversized answers; `retry_hint` reads a delay from
    the body of a 429/5xx that has no Retry-After header; `inspect` sees a 429/5xx first and
    may raise something else (LINE's monthly quota is a 429 no retry fixes); `max_bytes`
    raises the size cap for an API that pages many messages (WeCom sync_msg). `json` goes as UTF-8 without
    \\u escapes (WeChat's APIs show escapes literally to the customer); `data` is a form, or a
    multipart upload (aiohttp.FormData with a file)."""
    body: bytes | Mapping[str, str] | aiohttp.FormData | None = data
    sent = dict(headers or {})
    if json is not None:
        body = msgspec.json.encode(json)
        sent["Content-Type"] = "application/json; charset=utf-8"
    # the worker's session may be stricter than our ceiling (tests are: 1 s)
    timeout = http.timeout if (http.timeout.total or TIMEOUT.total or 0) < (TIMEOUT.total or 0) \
        else TIMEOUT
    try:
        async with http.request(method, url, data=body, params=params,
                                headers=sent, timeout=timeout,
                                allow_redirects=False) as resp:
            got_body = await _read(resp, max_bytes)
            status, got = resp.status, {k.lower(): v for k, v in resp.headers.items()}
    except TimeoutError as exc:
        raise RetryLater(f"{what}: no answer within {timeout.total:.0f}s") from exc
    except aiohttp.ClientError as exc:
        text = str(exc)
        for secret in (params or {}).values():     # an access_token in the query stays ours
            text = text.replace(secret, "***")
        raise RetryLater(f"{what}: {type(exc).__name__}: {text}") from exc
    if len(got_body) > max_bytes:
        raise RetryLater(f"{what}: answer larger than {max_bytes} bytes (HTTP {status})")
    answer = Answer(status, got, got_body)
    if status == 429 or status >= 500:
        if inspect is not None:
            inspect(answer)
        delay = retry_after(got.get("retry-after", ""))
        if delay is None and retry_hint is not None:
            delay = retry_hint(answer)
        raise RetryLater(f"{what}: HTTP {status} {answer.text()}", delay)
    if 300 <= status < 400:
        raise Rejected(f"{what}: HTTP {status} redirect to {got.get('location', '?')[:200]}; "
                       "check the account's api_base")
    return answer


async def _read(resp: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    """The body, or its first max_bytes + 1 bytes (StreamReader.read(n) returns whatever has
    arrived, not n bytes: one call would cut a larger answer short)."""
    chunks: list[bytes] = []
    size = 0
    while size <= max_bytes:
        chunk = await resp.content.read(max_bytes + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


async def token(tokens: AccessTokens, key: str,
                fetch: Callable[[], Awaitable[tuple[str, int]]]) -> str:
    """tokens.get, with the token store's own trouble (Redis down, another process stuck
    fetching) a reason to retry rather than a crash."""
    try:
        return await tokens.get(key, fetch)
    except Unavailable as exc:
        raise RetryLater(str(exc), float(exc.retry_after or 1)) from exc
    except (RedisError, OSError) as exc:
        raise RetryLater(f"access token store unavailable: {exc}") from exc


def upload_form(fields: Mapping[str, str], file_field: str, name: str, content_type: str,
                data: bytes) -> aiohttp.FormData:
    """A multipart/form-data body: the plain `fields`, then the file under `file_field` with
    its name and content type (how every provider's upload API takes a file). The name goes
    as raw UTF-8, as browsers send it (percent-escaped, Tencent and Telegram would show the
    customer "%E5%8F%91…"), without the control characters that could break the part's
    header."""
    form = aiohttp.FormData(quote_fields=False)
    for key, value in fields.items():
        form.add_field(key, value)
    form.add_field(file_field, data, filename=_CONTROL.sub("_", name) or "file",
                   content_type=_CONTROL.sub("", content_type) or "application/octet-stream")
    return form
