"""What every webhook connector shares: the request as the provider sent it, the answer the
provider expects, the two ways a delivery is refused, and small helpers for settings, signatures
and bounded text.

A connector is pure: it verifies and parses bytes into InboundMessage values and names the
reply. Reading the socket, Redis (ingest, nonce seen-sets) and metrics belong to the gateway,
which acknowledges only after the durable write.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar
from urllib.parse import parse_qsl

import msgspec

from deskgate.models.enums import Channel
from deskgate.models.message import InboundMessage

MAX_TEXT = 64 * 1024         # characters kept of one message's text; more is cut, not refused
MAX_ATTACHMENTS = 20
DEFAULT_MAX_SKEW = 300       # seconds a signed timestamp may differ from our clock
# Above this, the nonce TTL (2 x max_skew) overflows what Redis can expire: every delivery
# would answer 503. (Tests verify providers' years-old signed vectors, hence not an hour.)
MAX_SKEW_LIMIT = 10**10

S = TypeVar("S")


class Unauthorized(Exception):
    """The delivery is not proven to come from the provider: 401 when the proof is missing,
    403 when it is wrong, stale or replayed. `reason` labels the rejection metric."""

    def __init__(self, reason: str, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.reason, self.message, self.status = reason, message, status


class BadPayload(Exception):
    """Authentic (or not yet checkable) but unreadable: answered 400 with this reason."""


class SettingsError(ValueError):
    """A channel account's configuration is invalid; raised at start-up, never per request."""


class WebhookRequest(msgspec.Struct, frozen=True, kw_only=True):
    method: str
    url: str                          # the full URL as the provider signed it
    query: Mapping[str, str]          # first value of each query parameter
    headers: Mapping[str, str]        # keys lower-cased
    body: bytes
    received_at: datetime

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


class Reply(msgspec.Struct, frozen=True):
    """Exactly what the provider expects back once the delivery is durably stored."""

    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain"


class Nonce(msgspec.Struct, frozen=True):
    """A one-time value the gateway must remember for `ttl` seconds. `digest` binds it to
    the body first seen with it: a provider retry (same body) passes, a forged body reusing a
    captured signature does not."""

    value: str
    digest: str
    ttl: int


class Delivery(msgspec.Struct, frozen=True):
    messages: tuple[InboundMessage, ...]
    reply: Reply
    nonce: Nonce | None = None


class Connector(Protocol):
    """One channel. `settings` validates an account's raw config once at start-up; `handshake`
    answers the URL-verification GET; `handle` verifies and parses a POST."""

    name: str
    settings_type: type  # the msgspec Struct `settings` validates (admin forms are built from it)

    def settings(self, raw: Mapping[str, Any]) -> Any: ...

    def handshake(self, settings: Any, request: WebhookRequest) -> Reply: ...

    def handle(self, account: str, settings: Any, request: WebhookRequest) -> Delivery: ...


def load_settings(raw: Mapping[str, Any], type_: type[S], where: str) -> S:
    try:
        settings = msgspec.convert(dict(raw), type=type_)
    except msgspec.ValidationError as exc:
        raise SettingsError(f"{where}: {exc}") from exc
    # Every channel that signs a timestamp has max_skew; out of range it refuses every delivery.
    skew = getattr(settings, "max_skew", DEFAULT_MAX_SKEW)
    if not 1 <= skew <= MAX_SKEW_LIMIT:
        raise SettingsError(f"{where}: max_skew must be 1-{MAX_SKEW_LIMIT} seconds, not {skew}")
    return settings


def no_handshake(request: WebhookRequest) -> Reply:
    raise BadPayload("this channel has no GET verification; deliveries are POSTed")


def hmac_hex(key: bytes, data: bytes, algo: str = "sha256") -> str:
    return hmac.new(key, data, algo).hexdigest()


def check_equal(expected: str, given: str, *, reason: str = "bad_signature") -> None:
    """Constant-time comparison of a signature or shared secret; empty means missing (401)."""
    if not given:
        raise Unauthorized("missing_signature", "the signature is missing", status=401)
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise Unauthorized(reason, "the signature does not match")


def check_fresh(timestamp: str, max_skew: int, now: float | None = None) -> int:
    """A signed timestamp must be within max_skew of our clock: it bounds how long a captured
    request stays replayable (and how long its nonce must be remembered)."""
    try:
        ts = int(timestamp)
    except ValueError:
        raise Unauthorized("missing_timestamp", "the timestamp is missing or not an integer",
                           status=401) from None
    if abs((time.time() if now is None else now) - ts) > max_skew:
        raise Unauthorized("stale_timestamp", f"the timestamp is more than {max_skew}s off")
    return ts


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def clip(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[:limit]


def from_epoch(seconds: float | str | None, fallback: datetime) -> datetime:
    """Provider timestamps (seconds, or milliseconds when implausibly large) to UTC."""
    try:
        value = float(seconds) if seconds is not None else None
    except ValueError:
        value = None
    if value is None or value <= 0:
        return fallback
    if value > 1e11:
        value /= 1000
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return fallback


def platform_id(channel: Channel | str, account: str, user_id: str) -> str:
    return f"{channel}:{account}:{user_id}"


def event_id(*parts: object) -> str:
    """A stable external id for provider events that carry none (retries hash the same)."""
    return "ev:" + hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:32]


def decode_json(body: bytes, type_: type[S], what: str) -> S:
    """Typed JSON decode where every way a body can be wrong is a BadPayload (msgspec raises
    UnicodeDecodeError, not DecodeError, for invalid UTF-8 inside a string, and RecursionError
    for nesting deeper than the interpreter's limit, even inside a field it skips)."""
    try:
        return msgspec.json.decode(body, type=type_)
    except msgspec.ValidationError as exc:
        raise BadPayload(f"not {what}: {exc}") from exc
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise BadPayload(f"malformed JSON: {exc}") from exc
    except RecursionError:
        raise BadPayload("malformed JSON: nested too deeply") from None


def require(cond: bool, reason: str) -> None:
    if not cond:
        raise BadPayload(reason)


def parse_form(body: bytes) -> dict[str, str]:
    """Strict application/x-www-form-urlencoded (UTF-8); a repeated field is ambiguous."""
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body),
                          max_num_fields=200, errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadPayload(f"malformed form body: {exc}") from exc
    fields: dict[str, str] = {}
    for key, value in pairs:
        require(key not in fields, f"form field {key[:40]!r} given twice")
        fields[key] = value
    return fields
