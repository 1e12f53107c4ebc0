"""Satisfaction surveys in Redis: the deployment's link secret, offering a ticket's one
survey (lua/csat_offer.lua), sending it through the outbox (lua/csat_send.lua) and recording
its one answer (lua/csat_answer.lua).

Every offer is an entry of {p}csat:offers (ticket, link token, channel, account, customer),
read by the survey stage of the workers (gateway/workers/surveys.py) as the consumer group
"survey"; an offer not due yet (the delay after resolution) waits in {p}csat:due. The link is
also returned to the agent who resolved the ticket."""

from __future__ import annotations

import redis.asyncio as aioredis

from deskgate.models.codec import encode
from deskgate.models.csat import LINK_DAYS, Answer, sign
from deskgate.models.outbound import OutboundMessage
from deskgate.queue.audit import work_script
from deskgate.queue.deployment_secret import deployment_secret
from deskgate.queue.keys import Keys
from deskgate.queue.replies import text as _s
from deskgate.queue.replies import texts
from deskgate.queue.sessions import take_slot

ANSWERS_PER_WINDOW = 20             # survey posts per client address per window
ANSWER_WINDOW_SECONDS = 600
VIEWS_PER_WINDOW = 60               # survey pages shown per client address per window
GROUP = "survey"
REOPENED_RECHECK_SECONDS = 3600     # a survey of a reopened ticket waits for its resolution


class Surveys:
    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self._r = client
        self._k = keys
        self._offer = work_script(client, "csat_offer")
        self._answer = work_script(client, "csat_answer")
        self._send = work_script(client, "csat_send")

    async def secret(self) -> bytes:
        return await deployment_secret(self._r, self._k.csat_secret)

    async def offer(self, ticket_id: str, actor: str, now: float) -> str:
        """The link token of the ticket's survey if this call offered it, else ""."""
        token = sign(ticket_id, int(now) + LINK_DAYS * 86400, await self.secret())
        done = await self._offer(keys=[self._k.ticket(ticket_id), self._k.csat_offers],
                                 args=[self._k.p, ticket_id, now, token, actor])
        return token if int(done) else ""

    async def answer(self, ticket_id: str, given: Answer, now: float,
                     message_id: str = "") -> str:
        """'ok' | 'missing' (no survey offered) | 'done' (answered before) | 'replay' (this
        message, `message_id`, was recorded as the answer before)."""
        return _s(await self._answer(keys=[self._k.ticket(ticket_id)],
                                     args=[self._k.p, ticket_id, now, given.score,
                                           given.comment, message_id]))

    async def _step(self, ticket_id: str, reply_id: str, customer_id: str, now: float,
                    mode: str, entry_id: str, token: str, arg: str | float = "",
                    message: OutboundMessage | None = None) -> str:
        k = self._k
        return _s(await self._send(
            keys=[k.reply(reply_id), k.ticket(ticket_id), k.ticket_replies(ticket_id),
                  k.outbox, k.csat_offers, k.csat_due, k.customer(customer_id or "-")],
            args=[k.p, ticket_id, reply_id, now, mode, entry_id, GROUP, arg, token,
                  encode(message) if message else "", REOPENED_RECHECK_SECONDS]))

    async def send(self, message: OutboundMessage, customer_id: str, entry_id: str,
                   token: str, now: float) -> str:
        """Write the survey to the thread and the outbox and acknowledge its offer, in one
        step: 'ok' | 'replay' (sent before) | 'opted_out' | 'open' (reopened: it waits) |
        'missing'."""
        return await self._step(message.ticket_id, message.reply_id, customer_id, now, "send",
                                entry_id, token, message=message)

    async def skip(self, ticket_id: str, reply_id: str, entry_id: str, token: str,
                   reason: str, now: float) -> str:
        """No survey for this ticket (`reason` goes to its history); acknowledges the offer."""
        return await self._step(ticket_id, reply_id, "", now, "skip", entry_id, token,
                                reason[:200])

    async def defer(self, ticket_id: str, entry_id: str, token: str, due: float,
                    now: float) -> None:
        """Keep the offer in {p}csat:due until `due` and acknowledge its stream entry."""
        await self._step(ticket_id, "-", "", now, "defer", entry_id, token, due)

    async def due(self, now: float, limit: int = 100) -> list[str]:
        """Link tokens whose survey is due."""
        return texts(await self._r.zrangebyscore(self._k.csat_due, "-inf", now, 0, limit))

    async def opt_out(self, customer_id: str, now: float) -> None:
        await self._r.hset(self._k.customer(customer_id), "csat_opt_out", now)

    async def take_slot(self, source: str) -> int:
        """0 when `source` may post an answer now, else the seconds to wait."""
        return await take_slot(self._r, self._k.csat_attempts(source), ANSWERS_PER_WINDOW,
                               ANSWER_WINDOW_SECONDS)

    async def take_view(self, source: str) -> int:
        """0 when `source` may be shown a survey page now, else the seconds to wait."""
        return await take_slot(self._r, self._k.csat_views(source), VIEWS_PER_WINDOW,
                               ANSWER_WINDOW_SECONDS)
