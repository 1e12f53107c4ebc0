"""Signed links about one ticket that a customer opens without a login: the satisfaction
survey (models/csat.py) and the status page (models/status.py).

A token is "<ticket>.<expires>.<mac>", mac an HMAC (SHA-256, a deployment secret) of the link's
purpose, the ticket and the expiry: it opens that one ticket, for that one purpose (a survey
link is no status link), until it expires, and nobody can make one without the secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from deskgate.models.errors import Forbidden

_TOKEN = re.compile(r"^(DG-\d{1,12})\.(\d{10,12})\.([A-Za-z0-9_-]{27})$")


class LinkExpired(Forbidden):
    """A genuine link past its expiry (a page answers 410 and says how to get a new one)."""


def _mac(purpose: str, ticket_id: str, expires: int, secret: bytes) -> str:
    digest = hmac.new(secret, f"{purpose}|{ticket_id}|{expires}".encode(),
                      hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:20]).decode().rstrip("=")


def sign(purpose: str, ticket_id: str, expires: int, secret: bytes) -> str:
    return f"{ticket_id}.{expires}.{_mac(purpose, ticket_id, expires, secret)}"


def verify(purpose: str, token: str, secret: bytes, now: float) -> str:
    """The ticket id of a genuine, unexpired link; Forbidden (LinkExpired) otherwise."""
    m = _TOKEN.match(token[:64])
    if m is None or not hmac.compare_digest(m[3], _mac(purpose, m[1], int(m[2]), secret)):
        raise Forbidden("this link is not valid")
    if int(m[2]) < now:
        raise LinkExpired("this link has expired")
    return m[1]
