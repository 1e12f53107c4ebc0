"""The satisfaction survey over the customer's channel, a stage of the workers' tick.

Sending: the offers a resolve makes ({p}csat:offers) are read as the consumer group "survey";
each becomes one reply through the outbox (lua/csat_send.lua: thread entry, outbox entry and
the offer's acknowledgement in one step; the reply id is fixed per ticket, so a replayed offer
or a second worker never sends a second survey). An offer waits in {p}csat:due for the
configured delay. No survey goes where the account has surveys off, to a customer who opted
out, when the customer's last message could not be answered unasked (an auto-reply or bounce,
unverified mail, our own address) or when our last reply to them failed (a dead address).

Answering in the conversation: on channels where the customer types back in the same chat
(models/csat.py INLINE_CHANNELS), a message that is only a score ("5", "５", "⑤", "五",
"5分", "★★★★★") sent within csat.inline_window_hours of the survey to a resolved ticket is
recorded as the answer (kept in the noise stream, marked) instead of reopening the ticket;
"STOP" / "退订" opts the customer out of surveys. Anything else reopens the ticket as usual."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import msgspec
import redis.asyncio as aioredis

from deskgate.gateway.config import Config
from deskgate.gateway.replies import (
    NoWayToAnswer,
    compose,
    last_customer_message,
    may_answer_unasked,
)
from deskgate.models import csat
from deskgate.models.enums import Channel, Status
from deskgate.models.message import InboundMessage
from deskgate.models.outbound import DeliveryState
from deskgate.models.ticket import Ticket
from deskgate.queue.csat import GROUP, Surveys
from deskgate.queue.keys import Keys
from deskgate.queue.outbox import Outbox, reply_id_for
from deskgate.queue.replies import text as _s
from deskgate.queue.stream import GroupStream
from deskgate.queue.tickets import TicketStore

log = logging.getLogger("deskgate.surveys")
BATCH = 100
# An offer first seen this long after it fell due is not sent late (a long outage, or the
# upgrade that started this stage on a stream of old offers): a survey days later confuses.
STALE_OFFER_SECONDS = 2 * 86400


def survey_reply_id(ticket_id: str) -> str:
    return reply_id_for(ticket_id, "csat-survey")


class SurveyStage:
    def __init__(self, client: aioredis.Redis, keys: Keys, config: Config,
                 consumer: str) -> None:
        self._r, self._k = client, keys
        self._cfg = config.csat
        self._email = config.email
        self._base = config.http.public_url.rstrip("/")
        self.surveys = Surveys(client, keys)
        self.store = TicketStore(client, keys)
        self.outbox = Outbox(client, keys)
        self.reader = GroupStream(client, keys.csat_offers, GROUP, consumer)
        self._started = False

    # --- sending ------------------------------------------------------------------------

    async def step(self, now: float) -> int:
        """Handle the new offers (and those left pending by a stopped worker) and the delayed
        ones now due; returns how many surveys were written to the outbox."""
        if not self._started:
            await self.reader.ensure_group()
            entries = await self.reader.own_pending_raw(BATCH)
            self._started = True
        else:
            entries = []
        entries += await self.reader.read_raw(BATCH, None)
        entries += await self.reader.claim_stale_raw(60_000, BATCH)
        sent = 0
        for eid, f in entries:
            token = _s(f.get(b"token"))
            tid = _s(f.get(b"ticket"))
            due = float(_s(f.get(b"ts")) or 0) + self._cfg.delay_minutes * 60
            if due > now:
                await self.surveys.defer(tid, eid, token, due, now)
            elif now - due > STALE_OFFER_SECONDS:
                await self.surveys.skip(tid, survey_reply_id(tid), eid, token,
                                        "the offer is too old to send late", now)
            else:
                sent += await self._send(tid, token, eid, now)
        for token in await self.surveys.due(now):
            sent += await self._send(token.split(".", 1)[0], token, "", now)
        return sent

    async def _send(self, ticket_id: str, token: str, entry_id: str, now: float) -> int:
        rid = survey_reply_id(ticket_id)
        expires = token.split(".")[1] if token.count(".") == 2 else ""
        if not expires.isdigit() or int(expires) <= now:
            # a ticket reopened before its survey went out and never resolved again
            await self.surveys.skip(ticket_id, rid, entry_id, token, "the link expired", now)
            return 0
        ticket = await self.store.get(ticket_id)
        if ticket is None:
            await self.surveys.skip(ticket_id, rid, entry_id, token, "no such ticket", now)
            return 0
        messages = await self.store.messages(ticket)
        last = last_customer_message(messages)
        why = await self._why_not(ticket, last)
        if why or last is None:
            outcome = await self.surveys.skip(ticket_id, rid, entry_id, token,
                                              why or "no customer message", now)
            log.info("no survey for %s: %s (%s)", ticket_id, why, outcome)
            return 0
        inline = last.channel.value in csat.INLINE_CHANNELS
        lang = ticket.triage.language if ticket.triage else ""
        url = (f"{self._base}/csat/{token}?lang={csat.survey_language(lang)}"
               if self._base else "")
        if not url and not inline:
            await self.surveys.skip(ticket_id, rid, entry_id, token,
                                    "no link to send: set http.public_url", now)
            log.warning("no survey for %s on %s: set http.public_url so the link can be "
                        "sent", ticket_id, last.channel)
            return 0
        try:
            reply = await compose(self.store, ticket, last, reply_id=rid, author="auto",
                                  text=csat.survey_text(lang, ticket_id, url, inline=inline))
        except NoWayToAnswer as exc:
            await self.surveys.skip(ticket_id, rid, entry_id, token, str(exc), now)
            return 0
        if reply.recipient.channel is Channel.EMAIL:
            reply = msgspec.structs.replace(
                reply, subject=f"{csat.survey_subject(lang, ticket_id)} "
                               f"{await self.store.subject_tag(ticket_id)}".strip())
        outcome = await self.surveys.send(reply, ticket.customer_id, entry_id, token, now)
        if outcome == "ok":
            log.info("survey of %s queued on %s", ticket_id, reply.recipient.channel)
        return int(outcome == "ok")

    async def _why_not(self, ticket: Ticket, last: InboundMessage | None) -> str:
        if last is None:
            return "no customer message"
        if not self._cfg.sends_on(last.channel.value, last.account):
            return f"surveys are off for {last.channel}/{last.account}"
        if not may_answer_unasked(last, self._email):
            return "the customer's address may not be written to unasked"
        thread = await self.outbox.thread(ticket.id)
        if thread and thread[-1].state is DeliveryState.FAILED:
            return f"our last reply could not be delivered ({thread[-1].reason[:100]})"
        return ""

    # --- answers typed in the conversation ----------------------------------------------

    async def take_answers(self, messages: Sequence[InboundMessage],
                           customer_ids: Sequence[str], now: float) -> list[bool]:
        """For each message: True when it was a survey answer (or opt-out) and has been
        recorded, so it must not thread onto (and reopen) the ticket."""
        window = self._cfg.inline_window_hours * 3600
        out = []
        for m, cid in zip(messages, customer_ids, strict=True):
            got = (csat.inline_answer(m.text) if m.channel.value in csat.INLINE_CHANNELS
                   and len(m.text) <= 64 and not m.attachments else None)
            taken = False
            if got is not None:
                tid = _s(await self._r.get(self._k.customer_channel(cid, m.channel,
                                                                    m.account)))
                f = await self._r.hmget(self._k.ticket(tid), ["status", "csat_sent_at"]) \
                    if tid else [None, None]
                sent_at = float(_s(f[1]) or 0)
                if (_s(f[0]) in (Status.RESOLVED, Status.CLOSED) and sent_at
                        and now - sent_at <= window):
                    taken = await self._record(tid, cid, m, got, now)
            out.append(taken)
        return out

    async def _record(self, ticket_id: str, customer_id: str, m: InboundMessage,
                      got: int | str, now: float) -> bool:
        if got == csat.OPT_OUT:
            await self.surveys.opt_out(customer_id, now)
            outcome = "opt-out"
        else:
            outcome = await self.surveys.answer(ticket_id, csat.Answer(int(got), ""), now, m.id)
        if outcome != "replay":
            # kept, never dropped: the customer's message as a record of its own
            await self.store.record_noise(msgspec.structs.replace(
                m, kind_reason=f"survey answer for {ticket_id}: {outcome}"))
        log.info("survey of %s answered in the conversation (%s)", ticket_id, outcome)
        return True

