"""Tickets, customers and agents as the rest of the system reads them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import datetime

import msgspec

from deskgate.models.auto_answer import AutoAnswerRecord
from deskgate.models.enums import AgentStatus, Channel, Priority, Sentiment, Status
from deskgate.models.message import Identity
from deskgate.models.triage import Triage


class Correction(msgspec.Struct, frozen=True, omit_defaults=True):
    """Labels an agent confirmed or corrected on resolve; these are training labels."""

    topic: str = ""
    priority: Priority | None = None
    sentiment: Sentiment | None = None


class SlaState(msgspec.Struct, frozen=True, omit_defaults=True):
    """The ticket's SLA clocks as an agent reads them. A due time is left out once its clock
    is done (first response given); `paused` while waiting on the customer."""

    policy: str = ""
    first_response_due: datetime | None = None
    resolution_due: datetime | None = None
    first_response_breached: bool = False
    resolution_breached: bool = False
    paused: bool = False


class Ticket(msgspec.Struct, frozen=True, kw_only=True):
    id: str                             # "DG-1042": short enough to quote in a subject line
    status: Status
    channel: Channel
    account: str
    customer_id: str
    subject: str = ""
    skill: str
    priority: Priority
    triage: Triage | None = None
    assignee: str = ""
    created_at: datetime
    updated_at: datetime
    message_ids: tuple[str, ...] = ()
    correction: Correction | None = None
    sla: SlaState | None = None
    # opened by an email whose sender address could not be verified (models.message.SenderAuth)
    unverified_sender: bool = False
    # what the auto-answer stage did (answered, or routed with its reason and the lookup's fields)
    auto_answer: AutoAnswerRecord | None = None


class Customer(msgspec.Struct, frozen=True, kw_only=True):
    id: str                             # "c_<n>"
    name: str = ""
    tier: str = "standard"              # "vip" boosts priority and queue position
    identities: tuple[Identity, ...] = ()
    created_at: datetime


class Agent(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str = ""
    skills: dict[str, int] = msgspec.field(default_factory=dict)  # skill -> level (1..5)
    languages: tuple[str, ...] = ()
    capacity: int = 5                   # most tickets held at once
    status: AgentStatus = AgentStatus.ONLINE
    team: str = ""


_TAG = re.compile(r"(DG-\d{1,12})-([A-Z2-7]{8})")


def ticket_tag(ticket_id: str, secret: bytes) -> str:
    """"DG-3-K7Q2M4XA": the ticket number an agent reads, and 40 bits of HMAC with the
    deployment's secret, so that a subject tag cannot be guessed from the sequential number."""
    mac = hmac.new(secret, ticket_id.encode(), hashlib.sha256).digest()[:5]
    return f"{ticket_id}-{base64.b32encode(mac).decode()}"


def tagged_ticket(tag: str, secret: bytes) -> str:
    """The ticket id of a subject tag whose MAC matches, else ""."""
    m = _TAG.fullmatch(tag.upper())
    if m is None:
        return ""
    expected = ticket_tag(m.group(1), secret)
    return m.group(1) if hmac.compare_digest(expected, m.group(0)) else ""
