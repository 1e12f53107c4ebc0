"""Public links to one file of one reply, for the providers that fetch media from a URL
instead of taking an upload (LINE, Twilio MMS/WhatsApp).

A link is "/files/<reply id>.<index>.<expires>.<mac>": mac is an HMAC (SHA-256, the
deployment's file-link secret) over the blob ref, the reply id, the attachment's index and the
expiry, so a link names exactly one stored file of one reply, cannot be guessed or altered
(another index, another reply, a later expiry all change the mac), and stops working when it
expires. The blob ref is not in the link: the server reads it from the reply, so a link
never discloses a file's hash."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from deskgate.models.errors import Forbidden

LINK_SECONDS = 7 * 24 * 3600     # LINE may fetch an image again when a customer opens it later
_TOKEN = re.compile(r"^(r_[0-9a-f]{24})\.(\d{1,2})\.(\d{10,12})\.([A-Za-z0-9_-]{32})$")


def _mac(ref: str, reply_id: str, index: int, expires: int, secret: bytes) -> str:
    msg = f"file|{ref}|{reply_id}|{index}|{expires}".encode()
    return base64.urlsafe_b64encode(hmac.new(secret, msg, hashlib.sha256).digest()[:24]).decode()


def sign(ref: str, reply_id: str, index: int, expires: int, secret: bytes) -> str:
    return f"{reply_id}.{index}.{expires}.{_mac(ref, reply_id, index, expires, secret)}"


def parse(token: str) -> tuple[str, int, int, str]:
    """(reply id, index, expires, mac) of a well-formed token; Forbidden otherwise."""
    m = _TOKEN.match(token[:100])
    if m is None:
        raise Forbidden("this file link is not valid")
    return m[1], int(m[2]), int(m[3]), m[4]


def verify(token: str, ref: str, secret: bytes, now: float) -> None:
    """Forbidden unless `token` was signed for `ref` (the reply's file at the token's index)
    and has not expired."""
    reply_id, index, expires, mac = parse(token)
    if not hmac.compare_digest(mac, _mac(ref, reply_id, index, expires, secret)):
        raise Forbidden("this file link is not valid")
    if expires < now:
        raise Forbidden("this file link has expired")
