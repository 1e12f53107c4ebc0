"""What the WhatsApp Cloud API and the Messenger/Instagram Send API share: Graph API calls with
a bearer access token and one error shape,
{"error": {"message", "type", "code", "error_subcode", "error_data": {"details"}}}
(https://developers.facebook.com/docs/graph-api/guides/error-handling,
https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes).

Meta's access tokens (system-user or page tokens) are configured, not fetched, so an expired
one (code 190) waits for an admin: RetryLater with a long delay and a reason that says so.
Rate limits come back as HTTP 400 as often as 429, so they are read from the code.
"""

from __future__ import annotations

import msgspec

from deskgate.connectors.send.base import Rejected, RetryLater, WindowClosed
from deskgate.connectors.send.http import Answer, reason

ADMIN_WAIT = 300.0       # seconds before retrying what only an admin can fix
RATE_WAIT = 60.0         # Meta gives no Retry-After; its throttles last minutes

# https://developers.facebook.com/docs/graph-api/overview/rate-limiting,
# WhatsApp 130429 (throughput), 131056 (pair rate), 131048 (spam rate limit)
_RATE = {4, 17, 32, 613, 80006, 80007, 130429, 131048, 131056}
_TRANSIENT = {1, 2, 131000, 131016}          # "unknown"/"service" errors: retry
_TOKEN = {190, 102}


class ErrorData(msgspec.Struct, frozen=True):
    details: str = ""


class GraphError(msgspec.Struct, frozen=True):
    message: str = ""
    type: str = ""
    code: int = 0
    error_subcode: int = 0
    error_data: ErrorData | None = None


class ErrorBody(msgspec.Struct, frozen=True):
    error: GraphError


def auth(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


def fail(answer: Answer, what: str, window: set[tuple[int, int]]) -> Exception:
    """The exception for a non-2xx Graph answer; `window` lists the (code, subcode) pairs
    (subcode 0 = any) meaning the customer-service window is closed."""
    try:
        e = msgspec.json.decode(answer.body, type=ErrorBody).error
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):
        return Rejected(f"{what}: HTTP {answer.status} {answer.text()}")
    details = e.error_data.details if e.error_data else ""
    text = reason(f"{e.message} {details}".strip()) + f" (code {e.code}" + \
        (f"/{e.error_subcode})" if e.error_subcode else ")")
    if (e.code, e.error_subcode) in window or (e.code, 0) in window:
        return WindowClosed(f"{what}: the customer-service window is closed: {text}")
    if e.code in _TOKEN:
        return RetryLater(f"{what}: the access token was refused ({text}); put a valid "
                          "access_token in the channel settings", ADMIN_WAIT)
    if e.code in _RATE:
        return RetryLater(f"{what}: rate limited: {text}", RATE_WAIT)
    if e.code in _TRANSIENT:
        return RetryLater(f"{what}: {text}")
    return Rejected(f"{what}: {text}")
