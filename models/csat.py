"""Customer satisfaction surveys: the signed link and the answer, as pure rules.

A resolved ticket gets one survey link: "<ticket>.<expires>.<mac>", where mac is an HMAC
(SHA-256, the deployment's CSAT secret) of the ticket and expiry, so nobody can rate a ticket
whose link they were not given, and a link stops working when it expires. No login."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

import msgspec

from deskgate.models.errors import Forbidden, Invalid

LINK_DAYS = 14
MAX_COMMENT = 1000
_TOKEN = re.compile(r"^(DG-\d{1,12})\.(\d{10,12})\.([A-Za-z0-9_-]{27})$")


def _mac(ticket_id: str, expires: int, secret: bytes) -> str:
    digest = hmac.new(secret, f"csat|{ticket_id}|{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:20]).decode().rstrip("=")


def sign(ticket_id: str, expires: int, secret: bytes) -> str:
    return f"{ticket_id}.{expires}.{_mac(ticket_id, expires, secret)}"


def verify(token: str, secret: bytes, now: float) -> str:
    """The ticket id of a genuine, unexpired link; Forbidden otherwise."""
    m = _TOKEN.match(token[:64])
    if m is None or not hmac.compare_digest(m[3], _mac(m[1], int(m[2]), secret)):
        raise Forbidden("this survey link is not valid")
    if int(m[2]) < now:
        raise Forbidden("this survey link has expired")
    return m[1]


class Answer(msgspec.Struct, frozen=True):
    score: int
    comment: str = ""


def answer(score: str, comment: str) -> Answer:
    """A form's fields as an Answer: a score of 1-5 and at most MAX_COMMENT characters."""
    if score not in ("1", "2", "3", "4", "5"):
        raise Invalid("choose a score from 1 to 5", field="score")
    text = comment.strip()
    if len(text) > MAX_COMMENT:
        raise Invalid(f"the comment is limited to {MAX_COMMENT} characters", field="comment")
    return Answer(int(score), text)
