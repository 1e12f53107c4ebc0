"""The ticket and customer store: threading messages onto tickets, reading tickets back.

Writes go through the Lua scripts in lua/ (resolve_customers, apply_messages) so that each
message's effect is atomic and replaying it after a crash changes nothing."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

import msgspec
import redis.asyncio as aioredis

from deskgate.models.auto_answer import AutoAnswerRecord
from deskgate.models.codec import decode, encode
from deskgate.models.enums import Channel, IdentityKind, Priority, Status
from deskgate.models.message import Identity, InboundMessage
from deskgate.models.scope import Scope
from deskgate.models.ticket import Correction, Customer, SlaState, Ticket, tagged_ticket, ticket_tag
from deskgate.models.triage import Triage
from deskgate.queue.deployment_secret import deployment_secret
from deskgate.queue.keys import Keys
from deskgate.queue.replies import hash_reply, stream_entries, text_hash
from deskgate.queue.replies import text as _s
from deskgate.queue.review import URGENT_REVIEW_OFFSET
from deskgate.queue.scripts import lua

REOPEN_WINDOW_SECONDS = 7 * 24 * 3600
NOISE_SCAN = 10_000
RISK_WINDOW_SECONDS = 14 * 24 * 3600
SENT_IDS_TTL_SECONDS = 400 * 24 * 3600   # a reply to a mail older than a year opens a ticket


class CustomerContext(msgspec.Struct, frozen=True):
    customer_id: str
    tier: str
    recent_tickets: int


class Placement(msgspec.Struct, frozen=True):
    """What the worker decided for one message before it is applied."""

    message: InboundMessage
    customer_id: str
    triage: Triage
    skill: str
    queue_score: float


class MessagePlace(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    ticket_id: str        # "" while it waits for triage
    posted_by: str        # the id of the integration token that posted it ("" for channels)


class Applied(msgspec.Struct, frozen=True):
    outcome: str          # "new" | "append" | "reopen" | "replay"
    ticket_id: str


def _ts(value: bytes | str | None) -> datetime:
    return datetime.fromtimestamp(float(value or 0), UTC)



class TicketStore:
    def __init__(self, client: aioredis.Redis, keys: Keys, *,
                 reopen_window: int = REOPEN_WINDOW_SECONDS) -> None:
        self._r = client
        self._k = keys
        self._reopen_window = reopen_window
        self._resolve = client.register_script(lua("resolve_customers"))
        self._apply = client.register_script(lua("apply_messages"))
        self._secret: bytes | None = None

    async def tag_secret(self) -> bytes:
        """The deployment's subject-tag secret: made once (SET NX), shared by every process."""
        if self._secret is None:
            self._secret = await deployment_secret(self._r, self._k.tag_secret)
        return self._secret

    async def subject_tag(self, ticket_id: str) -> str:
        """"[#DG-3-K7Q2M4XA]" for the subject of mail about the ticket (outbound, issue 14)."""
        return f"[#{ticket_tag(ticket_id, await self.tag_secret())}]"

    async def record_sent(self, address: str, message_id: str, ticket_id: str) -> None:
        """Remember a Message-ID we sent to `address` about a ticket: a reply to it threads onto
        that ticket even when the sender cannot be verified (the outbound mail path calls this
        before handing the mail to the relay)."""
        key = self._k.sent_to(address.strip().lower())
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hset(key, message_id.strip().strip("<>"), ticket_id)
            pipe.expire(key, SENT_IDS_TTL_SECONDS)
            await pipe.execute()

    async def resolve_customers(self, messages: Sequence[InboundMessage],
                                now: float) -> list[CustomerContext]:
        items = [[m.sender.name, [i.key for i in m.sender.identities if i.verified],
                  [i.key for i in m.sender.identities if not i.verified]] for m in messages]
        replies = await self._resolve(keys=[self._k.identities], args=[self._k.p, now, now - RISK_WINDOW_SECONDS,
                                            json.dumps(items, ensure_ascii=False)])
        return [CustomerContext(_s(cid), _s(tier), int(recent)) for cid, tier, recent in replies]

    async def apply(self, placements: Sequence[Placement], now: float) -> list[Applied]:
        items: list[list[object]] = []
        blobs: list[bytes] = []
        secret = await self.tag_secret() if any(p.message.ticket_ref for p in placements) else b""
        for pl in placements:
            m, t = pl.message, pl.triage
            items.append([m.id, m.channel.value, m.account, pl.customer_id,
                          [*m.thread_refs, *([m.thread_key] if m.thread_key else [])],
                          m.thread_key, tagged_ticket(m.ticket_ref, secret) if secret else "",
                          m.subject or m.text[:80], pl.skill,
                          t.priority.value, pl.queue_score, t.risk.high,
                          "; ".join(t.risk.reasons), m.sender_verified, m.sender_email,
                          t.risk.urgent])
            blobs += [encode(m), encode(t)]
        replies = await self._apply(keys=[self._k.tickets], args=[self._k.p, now, self._reopen_window,
                                          json.dumps(items, ensure_ascii=False),
                                          URGENT_REVIEW_OFFSET, *blobs])
        return [Applied(_s(outcome), _s(tid)) for outcome, tid in replies]

    async def record_noise(self, message: InboundMessage) -> None:
        """Keep a non-ticket message; its idempotency marker is kept for good (no TTL), as a
        ticket message's index is, so that a provider's retry years later is still a
        duplicate (~100 bytes a message: docs/scale-out.md)."""
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.xadd(self._k.noise, {"id": message.id, "kind": message.kind.value,
                                      "reason": message.kind_reason, "m": encode(message)},
                      maxlen=100_000)
            pipe.persist(self._k.seen(message.id))
            await pipe.execute()

    async def recent_noise(self, count: int, *, scope: Scope,
                           scan_limit: int = NOISE_SCAN) -> list[tuple[str, InboundMessage]]:
        """The newest recorded non-ticket messages the scope sees (by the account's default
        skill: a message whose account names none belongs to no team), with the time Redis
        took each. At most `scan_limit` entries are read, whoever asks."""
        out: list[tuple[str, InboundMessage]] = []
        end, scanned = "+", 0
        while scanned < scan_limit and len(out) < count:
            rows = stream_entries(await self._r.xrevrange(
                self._k.noise, max=end, count=min(500, scan_limit - scanned)))
            if not rows:
                break
            scanned += len(rows)
            end = "(" + _s(rows[-1][0])
            for eid, f in rows:
                m = decode(f[b"m"], InboundMessage)
                if scope.sees_skill(m.skill_hint):
                    out.append((_s(eid), m))
                    if len(out) == count:
                        break
        return out

    async def message_place(self, message_id: str) -> MessagePlace | None:
        """Where an accepted message is, and which integration token posted it ("" when
        that is no longer known: its stream entry was trimmed); None when no such message
        was accepted (or its idempotency marker has expired)."""
        found = await self._accepted(message_id)
        if found is None:
            return None
        ticket, message = found
        token = message.meta.get("token", "") if message is not None else ""
        return MessagePlace(id=message_id, ticket_id=ticket, posted_by=token)

    async def accepted_message(self, message_id: str) -> InboundMessage | None:
        """The message as it was accepted under this id; None when unknown, or when it still
        waits for triage and its stream entry was trimmed."""
        found = await self._accepted(message_id)
        return found[1] if found is not None else None

    async def _accepted(self, message_id: str) -> tuple[str, InboundMessage | None] | None:
        ticket, raw = await self._r.hmget(self._k.msg(message_id), ["ticket", "json"])
        if ticket is None:
            entry = await self._r.get(self._k.seen(message_id))
            if entry is None:
                return None
            rows = stream_entries(await self._r.xrange(self._k.ingest, entry, entry))
            raw = rows[0][1].get(b"m") if rows else None
        return _s(ticket), decode(raw, InboundMessage) if raw else None

    async def get(self, ticket_id: str) -> Ticket | None:
        # one round trip: on a loaded machine each wait for Redis is also a wait for the CPU
        async with self._r.pipeline(transaction=False) as pipe:
            pipe.hgetall(self._k.ticket(ticket_id))
            pipe.lrange(self._k.ticket_msgs(ticket_id), 0, -1)
            f, msg_ids = await pipe.execute()
        if not f:
            return None
        return ticket_from_hash(hash_reply(f), tuple(_s(x) for x in msg_ids))

    async def get_many(self, ticket_ids: Sequence[str]) -> list[Ticket]:
        async with self._r.pipeline(transaction=False) as pipe:
            for tid in ticket_ids:
                pipe.hgetall(self._k.ticket(tid))
            hashes = await pipe.execute()
        return [ticket_from_hash(h, ()) for h in hashes if h]

    async def messages(self, ticket: Ticket) -> list[InboundMessage]:
        if not ticket.message_ids:
            return []
        async with self._r.pipeline(transaction=False) as pipe:
            for mid in ticket.message_ids:
                pipe.hget(self._k.msg(mid), "json")
            raws = await pipe.execute()
        return [decode(raw, InboundMessage) for raw in raws if raw]

    async def customer(self, customer_id: str) -> Customer | None:
        f = await self._r.hgetall(self._k.customer(customer_id))
        if not f:
            return None
        async with self._r.pipeline(transaction=False) as pipe:
            pipe.smembers(self._k.customer_ids(customer_id))
            pipe.smembers(self._k.customer_claims(customer_id))
            ids, claims = await pipe.execute()
        identities = tuple(Identity(IdentityKind(kind), value, verified=verified)
                           for keys, verified in ((ids, True), (claims, False))
                           for kind, _, value in sorted(_s(i).partition(":") for i in keys))
        d = text_hash(f)
        return Customer(id=d["id"], name=d.get("name", ""), tier=d.get("tier", "standard"),
                        identities=identities, created_at=_ts(d.get("created_at")))

    async def customer_name(self, customer_id: str) -> str:
        return _s(await self._r.hget(self._k.customer(customer_id), "name"))

    async def customer_ticket_ids(self, customer_id: str, limit: int = 50) -> list[str]:
        ids = await self._r.zrevrange(self._k.customer_tickets(customer_id), 0, limit - 1)
        return [_s(x) for x in ids]

    async def list(self, *, scope: Scope, status: str = "", channel: str = "",
                   skill: str = "", customer_id: str = "", text: str = "", offset: int = 0,
                   limit: int = 50, scan_limit: int = 5000) -> tuple[list[Ticket], bool]:
        """Newest first. The scope and the filters are applied while scanning at most
        `scan_limit` tickets (the scope first, so neither `more` nor a text match ever
        depends on a ticket the caller may not see); returns (page, more) where `more` says
        another page exists."""
        source = (self._k.customer_tickets(customer_id) if customer_id else self._k.tickets)
        needle = text.casefold()
        page: list[Ticket] = []
        skipped = 0
        start = 0
        chunk = 200
        while start < scan_limit:
            ids = [_s(x) for x in await self._r.zrevrange(source, start, start + chunk - 1)]
            if not ids:
                break
            start += chunk
            for t in await self.get_many(ids):
                if not scope.sees_ticket(t.skill, t.assignee):
                    continue
                if ((status and t.status != status) or (channel and t.channel != channel)
                        or (skill and t.skill != skill)):
                    continue
                if needle and not await self._matches_text(t, needle):
                    continue
                if skipped < offset:
                    skipped += 1
                    continue
                if len(page) == limit:
                    return page, True
                page.append(t)
        return page, False

    async def _matches_text(self, ticket: Ticket, needle: str) -> bool:
        if needle in ticket.subject.casefold():
            return True
        full = await self.get(ticket.id)
        return any(needle in m.text.casefold() or needle in m.subject.casefold()
                   for m in await self.messages(full)) if full else False


def ticket_from_hash(f: dict[bytes, bytes], message_ids: tuple[str, ...]) -> Ticket:
    d = {k.decode(): v for k, v in f.items()}
    triage = decode(d["triage"], Triage) if d.get("triage") else None
    correction = decode(d["correction"], Correction) if d.get("correction") else None
    auto = decode(d["auto_answer"], AutoAnswerRecord) if d.get("auto_answer") else None
    return Ticket(id=_s(d["id"]), status=Status(_s(d["status"])), channel=Channel(_s(d["channel"])),
                  account=_s(d.get("account")), customer_id=_s(d.get("customer_id")),
                  subject=_s(d.get("subject")), skill=_s(d.get("skill")),
                  priority=Priority(_s(d.get("priority")) or "P3"), triage=triage,
                  assignee=_s(d.get("assignee")), created_at=_ts(d.get("created_at")),
                  updated_at=_ts(d.get("updated_at")), message_ids=message_ids,
                  correction=correction, sla=_sla(d),
                  unverified_sender=bool(d.get("unverified_sender")), auto_answer=auto)


def _sla(d: dict[str, bytes]) -> SlaState | None:
    if not d.get("sla_policy"):
        return None
    frt_done = bool(d.get("frt_done"))
    return SlaState(
        policy=_s(d["sla_policy"]),
        first_response_due=None if frt_done or not d.get("frt_due") else _ts(d["frt_due"]),
        resolution_due=_ts(d["res_due"]) if d.get("res_due") else None,
        first_response_breached=bool(d.get("sla_breached_frt")),
        resolution_breached=bool(d.get("sla_breached_res")),
        paused=bool(d.get("sla_remaining")))
