"""The automatic acknowledgement of a new ticket (「您的售后申请已收到，我们会在 X 小时内处理」):
per account and language, with the ticket number and the first-response time its SLA promises,
through the outbox like any reply (but not the ticket's first response).

Loop guard: only customers' messages open tickets (auto-replies, bounces, read receipts and
mail from our own addresses are recorded as noise, never ticketed), and on top of that no
acknowledgement goes to one of our own addresses, to mail whose sender could not be verified
(a forged From would make us send mail to a stranger) nor to an address typed into a web form
that nobody verified, or to a customer who got one within
the window (one atomic SET NX with the outbox write).

With `http.public_url` set, the acknowledgement carries the ticket's signed status link
(models/status.py), where the customer follows the ticket without a login."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import redis.asyncio as aioredis

from deskgate.gateway.config import Config
from deskgate.gateway.replies import NoWayToAnswer, compose, may_answer_unasked
from deskgate.models.message import InboundMessage
from deskgate.models.status import link_url
from deskgate.queue.keys import Keys
from deskgate.queue.outbox import Outbox, reply_id_for
from deskgate.queue.status import StatusLinks
from deskgate.queue.tickets import Applied, TicketStore

log = logging.getLogger("deskgate.auto_ack")


class AutoAck:
    def __init__(self, client: aioredis.Redis, keys: Keys, config: Config) -> None:
        self._cfg = config.auto_ack
        self._email = config.email
        self._public_url = config.http.public_url
        self.store = TicketStore(client, keys)
        self.outbox = Outbox(client, keys)
        self.links = StatusLinks(client, keys)

    async def after_placed(self, applied: Sequence[Applied],
                           messages: Sequence[InboundMessage], now: float) -> int:
        """Acknowledge the tickets these messages opened ("replay": a crash came between the
        store and here; the reply id is fixed per ticket, so nothing goes twice)."""
        if not self._cfg.enabled:
            return 0
        sent = 0
        for a, m in zip(applied, messages, strict=True):
            if a.outcome in ("new", "replay") and may_answer_unasked(m, self._email):
                sent += await self._acknowledge(a.ticket_id, m, now)
        return sent


    async def _acknowledge(self, ticket_id: str, m: InboundMessage, now: float) -> int:
        ticket = await self.store.get(ticket_id)
        if ticket is None or ticket.sla is None or ticket.sla.first_response_due is None:
            return 0                  # no promise to make
        # whole hours, rounded: a 2 h promise computed a moment later is still "2 小时"
        hours = max(1, round((ticket.sla.first_response_due.timestamp() - now) / 3600))
        language = ticket.triage.language if ticket.triage else ""
        # without a public URL there is no address a customer could open the page at
        link = (link_url(self._public_url, await self.links.token(ticket_id, now))
                if self._public_url else "")
        text = self._cfg.text_for(m.channel, m.account, language, ticket_id, hours, link)
        if text is None:
            return 0
        try:
            reply = await compose(self.store, ticket, m, author="auto", text=text,
                                  reply_id=reply_id_for(ticket_id, "auto-ack"))
        except NoWayToAnswer:
            return 0
        result = await self.outbox.post_automatic(
            reply, ticket.customer_id, int(self._cfg.window_hours * 3600), now)
        if result.outcome == "ok":
            log.info("ticket %s acknowledged to the customer on %s", ticket_id, m.channel)
        return int(result.outcome == "ok")
