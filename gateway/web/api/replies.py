"""Replies to the customer over the REST API: an agent holding the ticket (or a manager in
scope) posts a reply; it is written to the thread and the durable outbox in one step and
delivered by the sender workers (gateway/workers/senders.py) on the channel the customer used."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from aiohttp import web

from deskgate.connectors.send.registry import sources
from deskgate.gateway.appkeys import CONFIG, DATA_DIR, KEYS, REDIS
from deskgate.gateway.mail.blobs import BlobStore
from deskgate.gateway.replies import NoWayToAnswer, compose, last_customer_message
from deskgate.gateway.web.api.common import (
    apply_actions,
    macro_of,
    rendered,
    store,
    ticket_files,
)
from deskgate.gateway.web.auth import requires
from deskgate.gateway.web.body import decode_body
from deskgate.gateway.web.errors import ApiError
from deskgate.gateway.web.scope import TICKET, scope, target
from deskgate.gateway.web.webhooks import ACCOUNTS
from deskgate.models.codec import to_builtins
from deskgate.models.delivery import (
    MAX_REPLY_CHARS,
    MAX_UPLOAD_BYTES,
    ThreadReply,
    file_refusal,
    limits,
    reply_target,
    window_closes,
)
from deskgate.models.enums import Channel, Role
from deskgate.models.message import InboundMessage
from deskgate.models.outbound import (
    OutboundAttachment,
    OutboundMessage,
    Recipient,
    TemplateCall,
    TemplateSpec,
)
from deskgate.models.ticket import Ticket
from deskgate.queue.outbox import Outbox, reply_id_for

MAX_IDEMPOTENCY_KEY = 200
_NAME = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]


class AttachmentIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    ref: Annotated[str, msgspec.Meta(max_length=80)]         # "sha256:<hex>" in the blob store
    name: _NAME
    content_type: Annotated[str, msgspec.Meta(max_length=127)] = "application/octet-stream"


class TemplateIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
    language: Annotated[str, msgspec.Meta(min_length=2, max_length=15)]
    parameters: Annotated[tuple[Annotated[str, msgspec.Meta(max_length=1024)], ...],
                          msgspec.Meta(max_length=20)] = ()


class ReplyIn(msgspec.Struct, forbid_unknown_fields=True):
    text: Annotated[str, msgspec.Meta(max_length=MAX_REPLY_CHARS)] = ""
    attachments: Annotated[tuple[AttachmentIn, ...], msgspec.Meta(max_length=10)] = ()
    template: TemplateIn | None = None     # a provider-approved template (WhatsApp)
    # a macro's id: its text when `text` is empty, and its status/skill/labels are applied
    macro: Annotated[str, msgspec.Meta(max_length=64)] = ""


def outbox(request: web.Request) -> Outbox:
    return Outbox(request.app[REDIS], request.app[KEYS],
                  lease_seconds=request.app[CONFIG].workers.lease_seconds)


def reply_json(r: ThreadReply) -> dict[str, Any]:
    m = r.message
    return {"id": m.reply_id, "author": m.author, "text": m.text, "created_at": m.created_at,
            "channel": m.recipient.channel, "state": r.state, "attempts": r.attempts,
            "provider_id": r.provider_id, "reason": r.reason, "last_error": r.last_error,
            "attachments": [to_builtins(a) for a in m.attachments],
            "template": to_builtins(m.template) if m.template else None,
            "updated_at": r.updated_at}


def _attachments(request: web.Request, channel: Channel, wanted: tuple[AttachmentIn, ...],
                 own: frozenset[str]) -> tuple[OutboundAttachment, ...]:
    """The files to send, each one a file of this ticket (`own`, gateway/web/api/files.py),
    of a type and size the channel takes (so the agent hears it now, not from a failed
    reply)."""
    if not wanted:
        return ()
    blobs = BlobStore(request.app[DATA_DIR])
    out = []
    for a in wanted:
        if a.ref not in own:
            raise ApiError(422, f"{a.ref[:80]} is not a file of this ticket: upload it with "
                                "POST /api/v1/tickets/{id}/files first",
                           field="attachments")
        try:
            size = blobs.path(a.ref).stat().st_size
        except ValueError as exc:
            raise ApiError(422, str(exc), field="attachments") from exc
        except FileNotFoundError:
            raise ApiError(422, f"no stored file {a.ref[:80]}: upload it again",
                           field="attachments") from None
        out.append(OutboundAttachment(name=a.name, content_type=a.content_type, size=size,
                                      ref=a.ref))
    refusal = file_refusal(limits(channel).files, str(channel), out)
    if refusal:
        raise ApiError(422, refusal, field="attachments")
    return tuple(out)


async def _message(request: web.Request, ticket: Ticket, body: ReplyIn,
                   reply_id: str) -> OutboundMessage:
    s = store(request)
    messages = await s.messages(ticket)
    last = last_customer_message(messages)
    if last is None:
        raise ApiError(409, "the ticket has no customer message to answer")
    try:
        return await compose(
            s, ticket, last, reply_id=reply_id, author=scope(request).actor, text=body.text,
            attachments=_attachments(request, reply_target_channel(last), body.attachments,
                                     await ticket_files(request, ticket, messages)),
            template=TemplateCall(body.template.name, body.template.language,
                                  body.template.parameters) if body.template else None)
    except NoWayToAnswer as exc:
        raise ApiError(409, f"{exc}: add a note instead") from exc


def reply_target_channel(last: InboundMessage) -> Channel:
    target = reply_target(last)
    return target.channel if target is not None else last.channel


@requires(Role.AGENT, Role.MANAGER, policy=TICKET)
async def post_reply(request: web.Request) -> web.Response:
    """Answer the customer on their channel (agent holding the ticket, or a manager in scope);
    an Idempotency-Key header makes a retried POST return the reply it already made."""
    body: ReplyIn = decode_body(await request.read(), ReplyIn)
    key = request.headers.get("Idempotency-Key", "")
    if len(key) > MAX_IDEMPOTENCY_KEY:
        raise ApiError(400, f"Idempotency-Key is at most {MAX_IDEMPOTENCY_KEY} characters")
    ticket = target(request, Ticket)
    macro = await macro_of(request, body.macro) if body.macro else None
    if macro is not None and not body.text.strip():
        body.text = await rendered(request, ticket, macro)
    if not body.text.strip() and not body.attachments and body.template is None:
        raise ApiError(422, "a reply needs text, an attachment or a template", field="text")
    box = outbox(request)
    reply_id = reply_id_for(ticket.id, key)
    if key and (known := await box.get(reply_id)) is not None:
        return web.json_response(reply_json(known), status=200, dumps=_dumps)
    message = await _message(request, ticket, body, reply_id)
    who = scope(request)
    result = await box.post(message, who.actor, privileged=who.privileged, now=time.time())
    if result.outcome == "missing":
        raise ApiError(404, "no such ticket")
    if result.outcome == "forbidden":
        raise ApiError(403, "only the agent holding the ticket (or a manager) may answer it: "
                            "claim it first")
    if result.outcome == "conflict":
        raise ApiError(409, f"the ticket is {result.detail}: reopen it to answer")
    stored = await box.get(reply_id)
    assert stored is not None
    out = reply_json(stored)
    if macro is not None and result.outcome == "ok":
        out["macro_problems"] = await apply_actions(request, ticket.id, macro)
    return web.json_response(out, status=201 if result.outcome == "ok" else 200, dumps=_dumps)


@requires(Role.AGENT, Role.MANAGER, policy=TICKET)
async def list_replies(request: web.Request) -> web.Response:
    """Our replies on a ticket, oldest first, with their delivery state; when the channel's
    customer-service window closes (after it, only a template may go); the files a reply on
    this channel may carry; and the templates the channel account offers."""
    ticket = target(request, Ticket)
    messages = await store(request).messages(ticket)
    last = last_customer_message(messages)
    closes = window_closes(last.channel, last.received_at) if last else None
    recipient = reply_target(last) if last else None
    rules = limits(recipient.channel).files if recipient else limits(Channel.API).files
    return web.json_response({
        "replies": [reply_json(r) for r in await outbox(request).thread(ticket.id)],
        "window_closes_at": closes,
        "window_open": closes is None or closes > datetime.now(UTC),
        "files": {"max_files": rules.max_files, "max_total": rules.max_total,
                  "max_upload": MAX_UPLOAD_BYTES,
                  "kinds": [{"kind": k.kind, "types": sorted(k.types), "names": k.type_names(),
                             "max_bytes": k.max_bytes} for k in rules.kinds]},
        "templates": [to_builtins(x) for x in await _templates(request, recipient)]},
        dumps=_dumps)


async def _templates(request: web.Request, recipient: Recipient | None) -> list[TemplateSpec]:
    """The templates configured on the account the reply goes from (WhatsApp Cloud or Twilio)."""
    if recipient is None:
        return []
    for name in sources(recipient.channel):
        found = await request.app[ACCOUNTS].get(request.app[REDIS], request.app[KEYS], name,
                                                recipient.account)
        if found is not None:
            return list(getattr(found[1], "templates", ()))
    return []


def _dumps(obj: Any) -> str:
    return msgspec.json.encode(obj).decode()
