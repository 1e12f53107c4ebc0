"""The auto-answer stage: new tickets whose topic has a lookup configured (the triage worker
feeds them to {p}autoanswer, so no other ticket waits on a lookup) are read as the consumer
group "autoanswer", their lookups run concurrently, and each outcome is written with the
entry's acknowledgement in one step (queue/auto_answers.py):

- the gates pass (topic confidence, not high risk, the entities found, the lookup answered
  and its fields meet the required fields and condition): the answer goes through the outbox
  as a reply by "auto" and the ticket is resolved, labelled auto-answered; the customer's
  next message reopens it into its skill queue with the answer on the thread;
- anything else: the ticket stays in the queue routing gave it, with the reason and whatever
  the lookup returned attached for the agent.

A worker killed mid-lookup leaves its entries pending: its restart (same consumer name) or
another worker after CLAIM_IDLE_MS re-does the lookup. The reply id is derived from the
ticket's first message, so a second run finds the reply stored and answers nothing twice."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import aiohttp
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from deskgate.gateway import lookup
from deskgate.gateway.config import Config
from deskgate.gateway.replies import NoWayToAnswer, compose, may_answer_unasked
from deskgate.models.auto_answer import (
    MAX_TIMEOUT_S,
    AutoAnswerRecord,
    LookupConfig,
    LookupRequest,
    answer_gate,
    answer_text,
    choose,
    confidence_gate,
    request_entities,
    sender_identities,
)
from deskgate.models.enums import Status
from deskgate.models.macros import variables
from deskgate.models.message import InboundMessage
from deskgate.models.outbound import OutboundMessage
from deskgate.models.ticket import Ticket
from deskgate.models.triage import Triage
from deskgate.queue.auto_answers import AutoAnswerStore
from deskgate.queue.connection import raise_if_cancelled
from deskgate.queue.keys import Keys
from deskgate.queue.outbox import reply_id_for
from deskgate.queue.replies import text as _s
from deskgate.queue.sla import Sla
from deskgate.queue.tickets import Applied, TicketStore
from deskgate.queue.work import Work

log = logging.getLogger("deskgate.auto_answer")

BATCH = 32                      # lookups in flight per worker
# longer than the longest lookup, so that a live worker's entry is never taken over mid-call
CLAIM_IDLE_MS = int((MAX_TIMEOUT_S + 5) * 1000)
AUTOCLAIM_EVERY_SECONDS = 5.0
KEEP_ACKED_MS = 3600 * 1000


async def feed(store: AutoAnswerStore, applied: Sequence[Applied],
               messages: Sequence[InboundMessage], triages: Sequence[Triage]) -> int:
    """The triage worker's part, before it acknowledges its batch: new tickets ("replay": a
    crash came between the store and here) whose topic has an auto-answer go to the stage."""
    configs = await store.current()
    if not configs:
        return 0
    items = [(a.ticket_id, m.id) for a, m, t in zip(applied, messages, triages, strict=True)
             if a.outcome in ("new", "replay") and choose(configs, m.account, t.topic)]
    await store.feed(items)
    return len(items)


async def undelivered(store: TicketStore, work: Work, sla: Sla, message: OutboundMessage,
                      reason: str, now: float) -> bool:
    """The sender workers' part: an automatic answer that failed for good leaves its ticket
    resolved with nothing delivered, so the ticket goes back to its queue (audited "reopen" by
    "auto", the reason given; counted among the reopened answers)."""
    if message.author != "auto":
        return False
    ticket = await store.get(message.ticket_id)
    if (ticket is None or ticket.status is not Status.RESOLVED or ticket.auto_answer is None
            or ticket.auto_answer.reply_id != message.reply_id):
        return False                  # an acknowledgement, or the ticket moved on already
    result = await work.act(
        "reopen", ticket.id, "auto", privileged=True,
        arg=f"the automatic answer was not delivered: {reason}"[:500],
        extra={"timers": await sla.reopen_timers(ticket.id, now)}, now=now)
    if result.outcome == "ok":
        log.warning("ticket %s back to agents: its automatic answer was not delivered (%s)",
                    ticket.id, reason)
    return result.outcome == "ok"


class AutoAnswerWorker:
    def __init__(self, client: aioredis.Redis, keys: Keys, config: Config,
                 consumer: str) -> None:
        self.store = AutoAnswerStore(client, keys)
        self.tickets = TicketStore(client, keys)
        self.reader = self.store.reader(consumer)
        self._block_ms = config.workers.block_ms
        self._email = config.email
        self.answered = 0
        self.routed = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set; lookups in progress are finished first."""
        next_claim = 0.0
        backlog: list[tuple[str, dict[bytes, bytes]]] = []
        started = False
        async with aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=MAX_TIMEOUT_S + 1)) as session:
            while not stop.is_set():
                try:
                    if not started:
                        await self.reader.ensure_group()
                        backlog = await self.reader.own_pending_raw(BATCH)
                        started = True
                        log.info("auto-answer stage %s reading", self.reader.consumer)
                    entries, backlog = backlog or await self.reader.read_raw(
                        BATCH, self._block_ms), []
                    if time.monotonic() >= next_claim:
                        next_claim = time.monotonic() + AUTOCLAIM_EVERY_SECONDS
                        entries += await self.reader.claim_stale_raw(CLAIM_IDLE_MS, BATCH)
                        await self.reader.trim_acknowledged(KEEP_ACKED_MS,
                                                            int(time.time() * 1000))
                    if entries:
                        results = await asyncio.gather(
                            *(self.handle(session, eid, f) for eid, f in entries),
                            return_exceptions=True)
                        self._log_failures(entries, results)
                except (RedisError, OSError) as exc:
                    raise_if_cancelled(exc)
                    log.error("Redis unavailable (%s); retrying in 1 s", exc)
                    await asyncio.sleep(1.0)

    def _log_failures(self, entries: Sequence[tuple[str, dict[bytes, bytes]]],
                      results: Sequence[object]) -> None:
        """One ticket's failure must not stop the others': its entry stays pending and is
        tried again after CLAIM_IDLE_MS. Redis being down is the loop's to report."""
        for (eid, _), result in zip(entries, results, strict=True):
            if isinstance(result, asyncio.CancelledError):
                raise result
            if isinstance(result, (RedisError, OSError)):
                raise result
            if isinstance(result, BaseException):
                log.error("auto-answer entry %s failed (%s: %s); it is retried in %d s", eid,
                          type(result).__name__, result, CLAIM_IDLE_MS // 1000)

    async def handle(self, session: aiohttp.ClientSession, entry_id: str,
                     fields: dict[bytes, bytes]) -> str:
        """One ticket: returns its outcome ("answered", "routed", "replay", "skipped")."""
        tid, mid = _s(fields.get(b"t")), _s(fields.get(b"m"))
        if not (tid and mid):
            await self.reader.ack([entry_id])
            return "skipped"
        # side by side: on a loaded machine every wait for Redis is also a wait for the CPU
        ticket, first = await asyncio.gather(self.tickets.get(tid),
                                             self.tickets.accepted_message(mid))
        if (ticket is None or ticket.triage is None or ticket.auto_answer is not None
                or not ticket.message_ids or ticket.message_ids[0] != mid):
            # gone, decided already (a replayed entry), or not the ticket's first message
            await self.reader.ack([entry_id])
            return "skipped"
        chosen = choose(await self.store.current(), ticket.account, ticket.triage.topic)
        if chosen is None:
            return await self._route(ticket, "", entry_id,
                                     "the topic's auto-answer was removed or disabled")
        cid, config = chosen
        if ticket.status is not Status.OPEN or ticket.assignee:
            return await self._route(ticket, cid, entry_id,
                                     "an agent took the ticket before the lookup")
        why = confidence_gate(config, ticket.triage) or (
            "triage flagged a risk: an agent answers" if ticket.triage.risk.high else "")
        if not why and (first is None or not may_answer_unasked(first, self._email)):
            why = "the sender's address is not verified: an answer could reach a stranger"
        entities = request_entities(config, ticket.triage)
        if not why and not entities:
            why = "the message names no " + " or ".join(config.entities)
        if why or first is None:
            return await self._route(ticket, cid, entry_id, why)
        found = await lookup.call(session, config, LookupRequest(
            ticket=ticket.id, topic=ticket.triage.topic, account=ticket.account,
            channel=ticket.channel.value, language=ticket.triage.language,
            entities=entities, sender=sender_identities(first.sender.identities)))
        if found.fields is None:
            return await self._route(ticket, cid, entry_id, found.reason, ms=found.ms)
        why = answer_gate(config, found.fields)
        if why:
            return await self._route(ticket, cid, entry_id, why, found.fields, found.ms)
        return await self._answer(ticket, first, cid, config, found.fields, found.ms,
                                  entry_id)

    async def _answer(self, ticket: Ticket, first: InboundMessage, cid: str,
                      config: LookupConfig, fields: dict[str, Any], ms: int,
                      entry_id: str) -> str:
        """`first`, the message answered, is the ticket's only one: the outcome step routes a
        ticket that got another meanwhile."""
        assert ticket.triage is not None
        name = first.sender.name or await self.tickets.customer_name(ticket.customer_id)
        values = variables(ticket=ticket.id, customer_name=name, agent="",
                           triage=ticket.triage)
        text = answer_text(config, ticket.triage.language, values, fields)
        try:
            reply = await compose(self.tickets, ticket, first, author="auto", text=text,
                                  reply_id=reply_id_for(ticket.id, f"auto-answer:{first.id}"))
        except NoWayToAnswer as exc:
            return await self._route(ticket, cid, entry_id, str(exc), fields, ms)
        used = [*config.gates.required_fields,
                *([config.gates.condition.field] if config.gates.condition else [])]
        detail = json.dumps({"config": cid, "reply": reply.reply_id,
                             "fields": {f: fields.get(f) for f in dict.fromkeys(used)}},
                            ensure_ascii=False, default=str)
        record = AutoAnswerRecord(outcome="answered", config=cid, at=datetime.now(UTC),
                                  fields=fields, lookup_ms=ms, reply_id=reply.reply_id)
        outcome, value = await self.store.answer(record, reply, detail, entry_id, time.time())
        if outcome == "taken":
            why = ("the customer wrote again while the lookup ran" if value == "wrote"
                   else "an agent took the ticket while the lookup ran")
            return await self._route(ticket, cid, entry_id, why, fields, ms)
        if outcome == "answered":
            self.answered += 1
            log.info("ticket %s answered automatically (%s, lookup %d ms)", ticket.id, cid, ms)
        return outcome

    async def _route(self, ticket: Ticket, cid: str, entry_id: str, reason: str,
                     fields: dict[str, Any] | None = None, ms: int = 0) -> str:
        record = AutoAnswerRecord(outcome="routed", config=cid, at=datetime.now(UTC),
                                  reason=reason, fields=fields or {}, lookup_ms=ms)
        outcome, _ = await self.store.route(ticket.id, record, entry_id, time.time())
        if outcome == "routed":
            self.routed += 1
            log.info("ticket %s left to agents: %s", ticket.id, reason)
        return outcome
