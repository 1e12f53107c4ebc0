"""How Deskgate signs what it POSTs to a customer's own systems — SLA notifications, the daily
summary, auto-answer lookups — so the receiver can check it came from us and is fresh:

    X-Deskgate-Timestamp: <unix seconds>
    X-Deskgate-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with the shared secret>
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Deskgate-Signature"
TIMESTAMP_HEADER = "X-Deskgate-Timestamp"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()
