"""The outbox: replies written to the ticket's thread and to a durable stream in one step
(lua/reply.lua), read by sender workers as the consumer group "send", with every step of a
delivery (attempt, sent, retry later, failed, dead-lettered, status callback) one atomic
script (lua/send.lua) that also acknowledges the stream entry it finishes."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
import redis.asyncio as aioredis

from deskgate.models.codec import decode, encode
from deskgate.models.delivery import ThreadReply, status_update
from deskgate.models.message import InboundMessage
from deskgate.models.outbound import DeliveryState, OutboundMessage, Recipient
from deskgate.queue.audit import work_script
from deskgate.queue.keys import Keys
from deskgate.queue.replies import stream_entries, text_hash
from deskgate.queue.replies import text as _s
from deskgate.queue.scripts import lua
from deskgate.queue.stream import GroupStream, RawEntry

GROUP = "send"
_VISIBLE = (DeliveryState.SENT, DeliveryState.DELIVERED, DeliveryState.READ)
PROVIDER_ID_TTL_SECONDS = 30 * 24 * 3600   # status callbacks arrive within days


class PostResult(msgspec.Struct, frozen=True):
    outcome: str          # "ok" | "replay" | "missing" | "forbidden" | "conflict"
    detail: str = ""


class Attempt(msgspec.Struct, frozen=True):
    """What `begin` found: send `message` now (attempt number `attempt`), or nothing to do."""

    outcome: str          # "send" | "done" | "gone"
    attempt: int = 0
    message: OutboundMessage | None = None
    state: str = ""


def reply_id_for(ticket_id: str, idempotency_key: str) -> str:
    """The reply id of a request: the same (ticket, Idempotency-Key) always gives the same id,
    so a retried POST finds the reply it already made; without a key every POST is new."""
    if not idempotency_key:
        return "r_" + secrets.token_hex(12)
    digest = hashlib.blake2b(f"{ticket_id}\x00{idempotency_key}".encode(), digest_size=12)
    return "r_" + digest.hexdigest()


def _ts(value: str) -> datetime | None:
    return datetime.fromtimestamp(float(value), UTC) if value else None


class Outbox:
    def __init__(self, client: aioredis.Redis, keys: Keys, *, lease_seconds: int = 600) -> None:
        self._r = client
        self._k = keys
        self._lease_seconds = lease_seconds
        self._post = work_script(client, "reply")
        self._send = client.register_script(lua("send"))

    # --- the API side -------------------------------------------------------------------

    async def post(self, message: OutboundMessage, actor: str, *, privileged: bool,
                   now: float) -> PostResult:
        """An agent's (or manager's) reply: also the ticket's first response."""
        return await self._write(message, actor, "1" if privileged else "0", now,
                                 first_response=True)

    async def post_automatic(self, message: OutboundMessage, customer_id: str, window: int,
                             now: float) -> PostResult:
        """An automatic answer (acknowledgement): not a first response, and at most one per
        customer per `window` seconds ("once" when one was already sent)."""
        return await self._write(message, "auto", "1", now, first_response=False,
                                 once=(self._k.auto_answered(customer_id), window))

    async def _write(self, message: OutboundMessage, actor: str, privileged: str, now: float,
                     *, first_response: bool, once: tuple[str, int] | None = None) -> PostResult:
        k, tid = self._k, message.ticket_id
        keys = [k.reply(message.reply_id), k.ticket(tid), k.ticket_replies(tid), k.outbox,
                k.leases, *([once[0]] if once else [])]
        outcome, detail = await self._post(
            keys=keys, args=[k.p, tid, message.reply_id, actor, privileged, now,
                             self._lease_seconds, encode(message),
                             "1" if first_response else "0", once[1] if once else 0])
        return PostResult(_s(outcome), _s(detail))

    async def get(self, reply_id: str) -> ThreadReply | None:
        f = text_hash(await self._r.hgetall(self._k.reply(reply_id)))
        return _thread_reply(f) if f else None

    async def thread(self, ticket_id: str, limit: int = 500) -> list[ThreadReply]:
        """The ticket's replies, oldest first."""
        return await self._replies(await self._r.lrange(self._k.ticket_replies(ticket_id), 0,
                                                        limit - 1))

    async def latest(self, ticket_id: str, count: int) -> tuple[list[ThreadReply], bool]:
        """The ticket's last `count` replies, oldest first, and whether it has more."""
        key = self._k.ticket_replies(ticket_id)
        async with self._r.pipeline(transaction=False) as pipe:
            pipe.lrange(key, -count, -1)
            pipe.llen(key)
            ids, total = await pipe.execute()
        return await self._replies(ids), int(total) > count

    async def _replies(self, raw_ids: Sequence[Any]) -> list[ThreadReply]:
        ids = [_s(x) for x in raw_ids]
        async with self._r.pipeline(transaction=False) as pipe:
            for rid in ids:
                pipe.hgetall(self._k.reply(rid))
            found = await pipe.execute()
        return [_thread_reply(text_hash(f)) for f in found if f]

    # --- the sender workers' side ------------------------------------------------------

    def reader(self, consumer: str) -> GroupStream:
        return GroupStream(self._r, self._k.outbox, GROUP, consumer)

    async def begin(self, reply_id: str, now: float) -> Attempt:
        outcome, *rest = await self._send(keys=[self._k.reply(reply_id)], args=["begin", now])
        if _s(outcome) != "send":
            return Attempt(_s(outcome), state=_s(rest[0]) if rest else "")
        return Attempt("send", int(rest[0]), decode(rest[1], OutboundMessage))

    async def sent(self, message: OutboundMessage, entry_id: str, provider_id: str,
                   state: DeliveryState, now: float) -> str:
        """Record the provider's acceptance and acknowledge the entry, in one step."""
        r = message.recipient
        _, reached = await self._send(
            keys=[self._k.reply(message.reply_id),
                  self._k.provider_message(r.channel, r.account, provider_id), self._k.outbox],
            args=["sent", now, entry_id, provider_id, state.value, PROVIDER_ID_TTL_SECONDS])
        return _s(reached)

    async def retry(self, reply_id: str, entry_id: str, reason: str, due: float,
                    max_attempts: int, now: float) -> tuple[str, int]:
        """Schedule the next attempt at `due`, or dead-letter the reply after `max_attempts`;
        returns ("later" | "dead", attempts made)."""
        k = self._k
        outcome, n = await self._send(
            keys=[k.reply(reply_id), k.outbox_delay, k.outbox, k.outbox_dead],
            args=["retry", now, entry_id, reason[:1000], due, max_attempts])
        return _s(outcome), int(n)

    async def fail(self, reply_id: str, entry_id: str, reason: str, now: float) -> None:
        await self._send(keys=[self._k.reply(reply_id), self._k.outbox],
                         args=["fail", now, entry_id, reason[:1000]])

    async def release_due(self, now: float, limit: int = 500) -> list[str]:
        """Put the replies whose back-off is over back on the outbox (each exactly once, even
        with many workers doing this at the same time)."""
        ids = await self._send(keys=[self._k.outbox_delay, self._k.outbox],
                               args=["due", now, limit])
        return [_s(x) for x in ids]

    async def advance(self, channel: str, account: str, provider_id: str,
                      state: DeliveryState, now: float, reason: str = "") -> str:
        """A provider's status callback about one of our messages: the reply's state moves
        forward (a late "delivered" after "read" changes nothing). Returns the reply's state,
        or "" when the provider id is not one of ours."""
        rid = await self._r.get(self._k.provider_message(channel, account, provider_id))
        return await self._forward(_s(rid), state, now, reason) if rid else ""

    async def record_status(self, message: InboundMessage, now: float) -> str:
        """Apply a provider's status callback (a STATUS record) to the reply it is about;
        returns the state reached, "" when it names none of our replies."""
        update = status_update(message)
        if update is None:
            return ""
        if update.provider_id:
            return await self.advance(message.channel, message.account, update.provider_id,
                                      update.state, now)
        # Messenger says "everything sent before <watermark>": the replies on the customer's
        # latest ticket of that page
        ident = message.sender.identities[0].key
        customer = await self._r.hget(self._k.identities, ident)
        ticket = customer and await self._r.get(self._k.customer_channel(
            _s(customer), message.channel, message.account))
        reached = ""
        for r in await self.thread(_s(ticket)) if ticket else ():
            sent_at = r.sent_at.timestamp() if r.sent_at else None
            if (r.message.recipient.address == update.address and sent_at is not None
                    and sent_at <= update.watermark + 1):
                reached = await self._forward(r.message.reply_id, update.state, now)
        return reached

    async def _forward(self, reply_id: str, state: DeliveryState, now: float,
                       reason: str = "") -> str:
        _, reached = await self._send(keys=[self._k.reply(reply_id)],
                                      args=["advance", now, state.value, reason[:1000]])
        return _s(reached)

    async def for_address(self, identity_key: str, recipient: Recipient, after: float,
                          *, tickets: int = 20, limit: int = 100) -> list[ThreadReply]:
        """The replies on its way to one customer address (a web-chat visitor) created after
        `after`, oldest first, from the customer's latest `tickets` tickets: what a polling
        client has not seen yet. Queued and failed ones are not the customer's to see."""
        customer = await self._r.hget(self._k.identities, identity_key)
        if customer is None:
            return []
        ids = await self._r.zrevrange(self._k.customer_tickets(_s(customer)), 0, tickets - 1)
        found = [r for tid in ids for r in await self.thread(_s(tid))
                 if r.message.recipient == recipient and r.state in _VISIBLE
                 and r.message.created_at.timestamp() > after]
        return sorted(found, key=lambda r: r.message.created_at)[:limit]

    async def dead(self, count: int = 100) -> list[RawEntry]:
        return stream_entries(await self._r.xrevrange(self._k.outbox_dead, count=count))


def _thread_reply(f: dict[str, str]) -> ThreadReply:
    return ThreadReply(message=decode(f["json"], OutboundMessage),
                       state=DeliveryState(f["state"]), attempts=int(f.get("attempts") or 0),
                       provider_id=f.get("provider_id", ""), reason=f.get("reason", ""),
                       last_error=f.get("last_error", ""), updated_at=_ts(f.get("updated_at", "")),
                       sent_at=_ts(f.get("sent_at", "")))


def decode_entries(entries: Sequence[RawEntry]) -> list[tuple[str, str]]:
    """(entry id, reply id) of outbox entries."""
    return [(eid, _s(f.get(b"r", b""))) for eid, f in entries]
