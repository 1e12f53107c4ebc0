"""What arrived but opened no ticket, made visible: auto-replies, bounces, our own mail,
delivery receipts and unknown provider events (the noise stream), and mail an IMAP poller
could not read (the quarantine)."""

from __future__ import annotations

from aiohttp import web

from deskgate.gateway.appkeys import CONFIG, KEYS, REDIS
from deskgate.gateway.web.auth import requires
from deskgate.gateway.web.errors import ApiError
from deskgate.gateway.web.scope import FILTERED, scope
from deskgate.models.codec import to_builtins
from deskgate.models.enums import Role
from deskgate.queue.mailbox_state import MailboxState
from deskgate.queue.stats import entry_time
from deskgate.queue.tickets import TicketStore

MAX_LIMIT = 500


def _limit(request: web.Request) -> int:
    try:
        return min(MAX_LIMIT, max(1, int(request.query.get("limit", "50"))))
    except ValueError as exc:
        raise ApiError(400, "limit must be an integer", field="limit") from exc


@requires(Role.MANAGER, policy=FILTERED)
async def noise(request: web.Request) -> web.Response:
    """Recorded messages that opened no ticket (auto-reply, bounce, own, status, event) of
    the accounts whose default skill your teams own."""
    rows = await TicketStore(request.app[REDIS], request.app[KEYS]).recent_noise(
        _limit(request), scope=scope(request))
    return web.json_response({"messages": [{
        "id": m.id, "kind": m.kind, "reason": m.kind_reason, "channel": m.channel,
        "account": m.account, "sender": to_builtins(m.sender), "subject": m.subject,
        "text": m.text[:500], "received_at": m.received_at.isoformat(),
        "recorded_at": entry_time(entry_id)} for entry_id, m in rows]})


@requires(Role.MANAGER, policy=FILTERED)
async def quarantine(request: web.Request) -> web.Response:
    """Mail an IMAP poller could not read, with the reason; newest first (team managers: of
    the mailboxes whose skill their teams own)."""
    sees = scope(request)
    mailboxes = None if sees.everything else frozenset(
        m.name for m in request.app[CONFIG].email.imap if sees.sees_skill(m.skill))
    rows = await MailboxState(request.app[REDIS], request.app[KEYS]).quarantined(
        _limit(request), mailboxes=mailboxes)
    return web.json_response({"quarantined": [to_builtins(q) for q in rows]})
