"""What the API handlers (and the console's live board) share: the stores a request works on,
the JSON shape of a ticket, how a work action's outcome becomes an answer, the validated target
queue of a transfer, the board a viewer may see, and the page limits. Handler modules import
this module, never each other. Also the macros a reply may use (looked up, filled in for a
ticket, and their actions applied), shared by the macros and replies handlers."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec
from aiohttp import web

from deskgate.gateway import sla_config
from deskgate.gateway.appkeys import CONFIG, KEYS, REDIS
from deskgate.gateway.web.errors import ApiError
from deskgate.gateway.web.scope import scope
from deskgate.models.codec import to_builtins
from deskgate.models.enums import Channel, Role
from deskgate.models.errors import DeskgateError
from deskgate.models.macros import MACRO_ID, Macro, render, variables
from deskgate.models.message import InboundMessage
from deskgate.models.routing import MAX_LEVEL, check_skill, queue_name
from deskgate.models.scope import Scope
from deskgate.models.status import link_url
from deskgate.models.ticket import Customer, Ticket
from deskgate.queue.dashboard import Board, Dashboard
from deskgate.queue.macros import MacroStore
from deskgate.queue.review import visible_page
from deskgate.queue.sla import Sla
from deskgate.queue.status import StatusLinks
from deskgate.queue.tickets import TicketStore
from deskgate.queue.work import ActionResult, Work

MAX_PAGE = 200
REVIEW_PAGE = 100

# What a work action's failed outcome (queue/work.py ActionResult) tells the caller.
ACTION_ERRORS = {
    "missing": (404, "no such ticket"),
    "forbidden": (403, "only the assigned agent (or a manager) may do this"),
    "unknown_agent": (404, "no such agent"),
    "full": (409, "that agent is at capacity"),
}


class MessageView(msgspec.Struct, frozen=True, omit_defaults=True):
    id: str
    channel: Channel
    received_at: datetime
    text: str
    subject: str = ""
    sender_name: str = ""
    attachments: tuple[dict[str, Any], ...] = ()
    unverified_sender: bool = False     # email whose From address could not be proven
    sender_check: str = ""              # what the sender check found (email only)


def store(request: web.Request) -> TicketStore:
    return TicketStore(request.app[REDIS], request.app[KEYS])


def work(request: web.Request) -> Work:
    return Work(request.app[REDIS], request.app[KEYS],
                lease_seconds=request.app[CONFIG].workers.lease_seconds)


def _message_view(m: InboundMessage) -> MessageView:
    return MessageView(id=m.id, channel=m.channel, received_at=m.received_at, text=m.text,
                       subject=m.subject, sender_name=m.sender.name,
                       attachments=tuple(to_builtins(a) for a in m.attachments),
                       unverified_sender=not m.sender_verified,
                       sender_check=m.sender_auth.detail if m.sender_auth else "")


def ticket_json(t: Ticket, customer: Customer | None,
                messages: list[InboundMessage] | None = None) -> dict[str, Any]:
    out = to_builtins(t)
    out.pop("message_ids", None)
    out["customer"] = to_builtins(customer) if customer else {"id": t.customer_id}
    if messages is not None:
        out["messages"] = [to_builtins(_message_view(m)) for m in messages]
    return out


def checked(result: ActionResult) -> str:
    if result.outcome == "ok":
        return result.detail
    if result.outcome == "conflict":
        raise ApiError(409, f"not possible now: the ticket is {result.detail}")
    status, message = ACTION_ERRORS.get(result.outcome, (500, result.outcome))
    raise ApiError(status, message)


def target_queue(skill: str, level: int) -> str:
    """The queue a ticket is sent to by a transfer or a reassignment, validated."""
    try:
        check_skill(skill)
    except ValueError as exc:
        raise ApiError(422, str(exc), field="skill") from exc
    if not 1 <= level <= MAX_LEVEL:
        raise ApiError(422, f"level must be 1-{MAX_LEVEL}", field="level")
    return queue_name(skill, level)


def dashboard(app: web.Application) -> Dashboard:
    return Dashboard(app[REDIS], app[KEYS])


def visible_board(full: Board, viewer: Scope) -> Board:
    """What one viewer may see, by the rule of every route (models/scope.py): the queues of
    their skills, the agents they see, and (managers) the first REVIEW_PAGE flagged tickets
    they see with their number. Agents get no review queue: it is the managers' work."""
    review, total = (visible_page(full.review, full.review_total, viewer, 0, REVIEW_PAGE)
                     if viewer.role is not Role.AGENT else ([], 0))
    return Board(at=full.at, queues=tuple(q for q in full.queues if viewer.sees_skill(q.queue)),
                 agents=tuple(a for a in full.agents if viewer.sees_agent(a.id, a.team)),
                 review_total=total, review=tuple(review))


def macros(request: web.Request) -> MacroStore:
    return MacroStore(request.app[REDIS], request.app[KEYS])


def macro_id_of(request: web.Request) -> str:
    macro_id = request.match_info["macro_id"]
    if not MACRO_ID.match(macro_id):
        raise ApiError(400, "a macro id is 1-64 lower-case letters, digits, _ or -",
                       field="macro_id")
    return macro_id


async def macro_of(request: web.Request, macro_id: str) -> Macro:
    found = await macros(request).get(macro_id)
    if found is None:
        raise ApiError(404, f"no macro {macro_id!r}", field="macro")
    return found


def public_base(request: web.Request) -> str:
    """Where customers reach this gateway: http.public_url, else the address this request
    came to (right when the console is served from the public address)."""
    return (request.app[CONFIG].http.public_url.rstrip("/")
            or f"{request.scheme}://{request.host}")


async def rendered(request: web.Request, ticket: Ticket, macro: Macro) -> str:
    customer = await store(request).customer(ticket.customer_id)
    text = macro.text(ticket.triage.language if ticket.triage else "zh")
    link = ""
    if "{status_link}" in text:
        token = await StatusLinks(request.app[REDIS], request.app[KEYS]).token(ticket.id,
                                                                              time.time())
        link = link_url(public_base(request), token)
    values = variables(ticket=ticket.id, customer_name=customer.name if customer else "",
                       agent=scope(request).actor, triage=ticket.triage, status_link=link)
    return render(text, values)


async def apply_actions(request: web.Request, ticket_id: str, macro: Macro) -> list[str]:
    """After the reply: labels, status, skill — each the ticket's own atomic, audited action.
    Returns what could not be done (the reply is out either way)."""
    who, w, problems = scope(request), work(request), []
    steps: list[tuple[str, str, dict[str, Any] | None]] = []
    if macro.labels:
        steps.append(("labels", json.dumps(list(macro.labels)), None))
    if macro.set_status == "pending":
        # before a transfer, which would take the ticket from its holder (a pending ticket
        # keeps its holder when its skill changes)
        left = await (await sla(request)).remaining(ticket_id, time.time())
        steps.append(("pending", "", left))
    if macro.set_skill:
        steps.append(("transfer_queue", target_queue(macro.set_skill, 1), None))
    for op, arg, extra in steps:
        try:
            checked(await w.act(op, ticket_id, who.actor, privileged=who.privileged, arg=arg,
                                extra=extra))
        except DeskgateError as exc:
            problems.append(f"{op}: {exc}")
    if macro.set_status == "resolved":
        result = await w.resolve(ticket_id, who.actor, privileged=who.privileged)
        if result.outcome != "ok":
            problems.append(f"resolve: {result.outcome} {result.detail}".strip())
    return problems


async def sla(request: web.Request) -> Sla:
    return Sla(request.app[REDIS], request.app[KEYS], await sla_config.current(request.app),
               lease_seconds=request.app[CONFIG].workers.lease_seconds)


async def ticket_files(request: web.Request, ticket: Ticket,
                       messages: Sequence[InboundMessage]) -> frozenset[str]:
    """The blob refs a reply on this ticket may attach: files agents uploaded for it
    (gateway/web/api/files.py) and files the customer sent on it."""
    uploaded = await request.app[REDIS].smembers(request.app[KEYS].ticket_files(ticket.id))
    return frozenset({r.decode() if isinstance(r, bytes) else r for r in uploaded}
                     | {a.ref for m in messages for a in m.attachments})
