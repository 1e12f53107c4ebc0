"""Satisfaction surveys in Redis: the deployment's link secret, offering a ticket's one
survey (lua/csat_offer.lua) and recording its one answer (lua/csat_answer.lua).

Delivery hook: every offer is an entry of {p}csat:offers (ticket, link token, channel,
account, customer). Until the outbound senders consume that stream and send the link over the
customer's channel, the link is returned to the agent who resolved the ticket."""

from __future__ import annotations

import redis.asyncio as aioredis

from deskgate.models.csat import LINK_DAYS, Answer, sign
from deskgate.queue.audit import work_script
from deskgate.queue.deployment_secret import deployment_secret
from deskgate.queue.keys import Keys
from deskgate.queue.replies import text as _s
from deskgate.queue.sessions import take_slot

ANSWERS_PER_WINDOW = 20             # survey posts per client address per window
ANSWER_WINDOW_SECONDS = 600


class Surveys:
    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self._r = client
        self._k = keys
        self._offer = work_script(client, "csat_offer")
        self._answer = work_script(client, "csat_answer")

    async def secret(self) -> bytes:
        return await deployment_secret(self._r, self._k.csat_secret)

    async def offer(self, ticket_id: str, actor: str, now: float) -> str:
        """The link token of the ticket's survey if this call offered it, else ""."""
        token = sign(ticket_id, int(now) + LINK_DAYS * 86400, await self.secret())
        done = await self._offer(keys=[self._k.ticket(ticket_id), self._k.csat_offers],
                                 args=[self._k.p, ticket_id, now, token, actor])
        return token if int(done) else ""

    async def answer(self, ticket_id: str, given: Answer, now: float) -> str:
        """'ok' | 'missing' (no survey offered) | 'done' (answered before)."""
        return _s(await self._answer(keys=[self._k.ticket(ticket_id)],
                                     args=[self._k.p, ticket_id, now, given.score,
                                           given.comment]))

    async def take_slot(self, source: str) -> int:
        """0 when `source` may post an answer now, else the seconds to wait."""
        return await take_slot(self._r, self._k.csat_attempts(source), ANSWERS_PER_WINDOW,
                               ANSWER_WINDOW_SECONDS)
