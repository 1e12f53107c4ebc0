"""Customer satisfaction surveys: the signed link and the answer, as pure rules.

A resolved ticket gets one survey link (models/links.py, signed with the deployment's CSAT
secret), so nobody can rate a ticket whose link they were not given, and a link stops working
when it expires. No login."""

from __future__ import annotations

import msgspec

from deskgate.models import links
from deskgate.models.errors import Invalid

LINK_DAYS = 14
MAX_COMMENT = 1000
PURPOSE = "csat"


def sign(ticket_id: str, expires: int, secret: bytes) -> str:
    return links.sign(PURPOSE, ticket_id, expires, secret)


def verify(token: str, secret: bytes, now: float) -> str:
    """The ticket id of a genuine, unexpired survey link; Forbidden otherwise."""
    return links.verify(PURPOSE, token, secret, now)


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
