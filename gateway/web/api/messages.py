"""POST /api/v1/messages: the generic API channel any system can post to."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
from aiohttp import web

from deskgate.gateway.appkeys import KEYS, METRICS, REDIS
from deskgate.gateway.channel_accounts import ACCOUNT_NAME
from deskgate.gateway.intake import accept_or_503
from deskgate.gateway.web.auth import principal, requires
from deskgate.gateway.web.body import decode_body
from deskgate.gateway.web.errors import ApiError
from deskgate.gateway.web.scope import INTAKE, MESSAGE, target
from deskgate.models.enums import Channel, IdentityKind, Role
from deskgate.models.errors import Forbidden
from deskgate.models.message import Identity, InboundMessage, Sender
from deskgate.models.phone import normalize_phone
from deskgate.queue.tickets import MessagePlace, TicketStore

MAX_TEXT = 64 * 1024
DEFAULT_ACCOUNT = "default"


class SenderIn(msgspec.Struct, forbid_unknown_fields=True):
    email: str | None = None
    phone: str | None = None
    id: str | None = None
    name: str = ""


class MessageIn(msgspec.Struct, forbid_unknown_fields=True):
    external_id: str
    sender: SenderIn
    text: str
    thread_key: str = ""
    subject: str = ""
    html: str = ""
    received_at: datetime | None = None
    # the token's account when it is bound to one; else this, or DEFAULT_ACCOUNT
    account: str | None = None




def _sender(s: SenderIn, account: str) -> Sender:
    ids: list[Identity] = []
    if s.email is not None:
        email = s.email.strip().lower()
        if "@" not in email or len(email) > 254 or " " in email:
            raise ApiError(422, "not an email address", field="sender.email")
        ids.append(Identity(IdentityKind.EMAIL, email))
    if s.phone is not None:
        phone = normalize_phone(s.phone)
        if phone is None:
            raise ApiError(422, "not a phone number (use E.164, e.g. +8613800138000)",
                           field="sender.phone")
        ids.append(Identity(IdentityKind.PHONE, phone))
    if s.id is not None:
        if not s.id.strip() or len(s.id) > 256:
            raise ApiError(422, "must be 1-256 characters", field="sender.id")
        ids.append(Identity(IdentityKind.EXTERNAL, f"api:{account}:{s.id.strip()}"))
    if not ids:
        raise ApiError(422, "give at least one of email, phone, id", field="sender")
    return Sender(identities=tuple(ids), name=s.name[:200])


def _validate(m: MessageIn) -> None:
    checks = (("external_id", 1 <= len(m.external_id) <= 256),
              ("text", 0 < len(m.text.strip()) and len(m.text) <= MAX_TEXT),
              ("subject", len(m.subject) <= 1000), ("html", len(m.html) <= 4 * MAX_TEXT),
              ("thread_key", len(m.thread_key) <= 512))
    for field, ok in checks:
        if not ok:
            raise ApiError(422, f"{field} is empty or too long", field=field)


def _account(m: MessageIn, bound: str) -> str:
    """The account a message is for. It scopes external ids, thread keys and sender ids, so a
    token bound to an account (`token create --account`) posts for that one only."""
    if bound:
        if m.account is not None and m.account != bound:
            raise Forbidden(f"this token posts for account {bound!r} only: leave `account` "
                            "out, or use a token of that account", field="account")
        return bound
    if m.account is None:
        return DEFAULT_ACCOUNT
    # the account is part of every thread and customer key: a ':' would reach another's
    if not ACCOUNT_NAME.match(m.account):
        raise ApiError(422, "account is 1-64 letters, digits, _ or - (like channel accounts)",
                       field="account")
    return m.account


@requires(Role.INTEGRATION, policy=INTAKE)
async def post_message(request: web.Request) -> web.Response:
    """Accept one customer message; 202 once durable, 200 + duplicate for a retry."""
    if request.content_type != "application/json":
        raise ApiError(415, "send JSON with Content-Type: application/json")
    m = decode_body(await request.read(), MessageIn)
    _validate(m)
    account = _account(m, principal(request).account)
    received = m.received_at or datetime.now(UTC)
    if received.tzinfo is None:
        raise ApiError(422, "received_at needs a time zone (e.g. 2026-11-23T10:00:00Z)",
                       field="received_at")
    msg = InboundMessage(channel=Channel.API, account=account, external_id=m.external_id,
                         sender=_sender(m.sender, account), received_at=received,
                         text=m.text, subject=m.subject, html=m.html, thread_key=m.thread_key,
                         meta={"token": principal(request).token_id})
    accepted = await accept_or_503(request.app, msg)
    if accepted.duplicate:
        await _check_retry(request, msg, client_time=m.received_at is not None)
    request.app[METRICS].inc("deskgate_messages_accepted_total", channel="api",
                             duplicate=str(accepted.duplicate).lower())
    body_out = {"id": accepted.message_id, "duplicate": accepted.duplicate}
    return web.json_response(body_out, status=200 if accepted.duplicate else 202)


_RETRY_FIELDS = ("sender", "text", "subject", "html", "thread_key")


async def _check_retry(request: web.Request, msg: InboundMessage, *, client_time: bool) -> None:
    """An external_id already taken is a retry only when it is the same message from the same
    integration; anything else would be dropped silently behind "duplicate": true, so it is a
    409. (A first delivery whose stream entry was trimmed before triage cannot be compared:
    then it counts as a retry.)"""
    first = await TicketStore(request.app[REDIS], request.app[KEYS]).accepted_message(msg.id)
    if first is None:
        return
    if first.meta.get("token", "") != msg.meta["token"]:
        raise ApiError(409, f"external_id {msg.external_id[:80]!r} is already used by another "
                            f"integration's message on account {msg.account!r}: use ids unique "
                            "to your system, or your own account", field="external_id")
    same = all(getattr(first, f) == getattr(msg, f) for f in _RETRY_FIELDS)
    if not same or (client_time and first.received_at != msg.received_at):
        raise ApiError(409, f"external_id {msg.external_id[:80]!r} was already used for a "
                            "different message: a retry must repeat the message unchanged; a "
                            "new message needs a new id", field="external_id")


@requires(Role.INTEGRATION, Role.AGENT, Role.MANAGER, policy=MESSAGE)
async def get_message(request: web.Request) -> web.Response:
    """Where an accepted message is: "accepted" (waiting for triage) or its ticket id
    (integrations: the messages they posted)."""
    m = target(request, MessagePlace)
    if m.ticket_id:
        return web.json_response({"id": m.id, "state": "ticketed", "ticket_id": m.ticket_id})
    return web.json_response({"id": m.id, "state": "accepted"})
