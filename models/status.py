"""What a customer sees of their ticket on the status page (客户可实时查询进度), as pure rules:
the signed link (models/links.py), the ticket's status in the customer's words, and the public
thread — the customer's own messages and our replies, in order, with each reply's delivery
state. Nothing else of the ticket (notes, triage, risk, who holds it) is in these values, so a
page built from them cannot show it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

import msgspec

from deskgate.models import links
from deskgate.models.delivery import ThreadReply
from deskgate.models.enums import MessageKind, Status
from deskgate.models.message import InboundMessage
from deskgate.models.outbound import DeliveryState

PURPOSE = "status"
LINK_DAYS = 30             # a link in the acknowledgement outlives most tickets
MAX_ENTRIES = 50           # the page shows the latest entries of a long thread
MAX_ENTRY_CHARS = 4000     # and clips each one


class Stage(StrEnum):
    """The ticket's status in the customer's words."""

    RECEIVED = "received"          # waiting for an agent
    HANDLING = "handling"          # an agent has it, or has answered and it is back in queue
    WAITING = "waiting"            # we asked the customer something (pending)
    RESOLVED = "resolved"


def stage(status: Status, answered: bool) -> Stage:
    """`answered`: a person (not the acknowledgement) has replied on the ticket."""
    if status in (Status.RESOLVED, Status.CLOSED):
        return Stage.RESOLVED
    if status is Status.PENDING:
        return Stage.WAITING
    if status is Status.ASSIGNED or answered:
        return Stage.HANDLING
    return Stage.RECEIVED


class Entry(msgspec.Struct, frozen=True, kw_only=True):
    """One line of the public thread."""

    at: datetime
    ours: bool                     # our reply; else the customer's message
    text: str
    clipped: bool = False
    attachments: tuple[str, ...] = ()   # file names only: the page offers no downloads
    state: DeliveryState | None = None  # our replies' delivery state


class StatusView(msgspec.Struct, frozen=True, kw_only=True):
    ticket_id: str
    stage: Stage
    language: str                  # the ticket's, "" when triage could not tell
    updated_at: datetime
    entries: tuple[Entry, ...]
    earlier: bool                  # older entries exist than those shown


def _clip(text: str) -> tuple[str, bool]:
    return (text[:MAX_ENTRY_CHARS] + "…", True) if len(text) > MAX_ENTRY_CHARS else (text, False)


def view(ticket_id: str, status: Status, language: str, updated_at: datetime,
         messages: Sequence[InboundMessage], replies: Sequence[ThreadReply], *,
         more: bool = False, limit: int = MAX_ENTRIES) -> StatusView:
    """The page's content from the ticket's latest messages and replies (`more`: the store
    left older ones out)."""
    entries: list[Entry] = []
    for m in messages:
        if m.kind is MessageKind.MESSAGE:
            text, clipped = _clip(m.text)
            entries.append(Entry(at=m.received_at, ours=False, text=text, clipped=clipped,
                                 attachments=tuple(a.name for a in m.attachments)))
    for r in replies:
        text, clipped = _clip(r.message.text)
        entries.append(Entry(at=r.message.created_at, ours=True, text=text, clipped=clipped,
                             attachments=tuple(a.name for a in r.message.attachments),
                             state=r.state))
    entries.sort(key=lambda e: e.at)
    answered = any(r.message.author != "auto" for r in replies)
    return StatusView(ticket_id=ticket_id, stage=stage(status, answered), language=language,
                      updated_at=updated_at, entries=tuple(entries[-limit:]),
                      earlier=more or len(entries) > limit)


def sign(ticket_id: str, expires: int, secret: bytes) -> str:
    return links.sign(PURPOSE, ticket_id, expires, secret)


def verify(token: str, secret: bytes, now: float) -> str:
    """The ticket id of a genuine, unexpired status link; Forbidden / LinkExpired otherwise."""
    return links.verify(PURPOSE, token, secret, now)


def link_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/status/{token}"
