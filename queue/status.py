"""The customer's status page in Redis: the deployment's link secret, the per-address view
limit, and the bounded read of one ticket's public thread (models/status.py decides what of it
the customer sees)."""

from __future__ import annotations

import redis.asyncio as aioredis

from deskgate.models.status import LINK_DAYS, MAX_ENTRIES, StatusView, sign, verify, view
from deskgate.queue.deployment_secret import deployment_secret
from deskgate.queue.keys import Keys
from deskgate.queue.outbox import Outbox
from deskgate.queue.replies import hash_reply
from deskgate.queue.replies import text as _s
from deskgate.queue.sessions import take_slot
from deskgate.queue.tickets import TicketStore, ticket_from_hash

VIEWS_PER_WINDOW = 60      # page views per client address per window: a customer refreshing
VIEW_WINDOW_SECONDS = 600  # now and then is far below it; a link-guessing script is not


class StatusLinks:
    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self._r = client
        self._k = keys

    async def token(self, ticket_id: str, now: float) -> str:
        """A new link token for the ticket, valid LINK_DAYS."""
        secret = await deployment_secret(self._r, self._k.status_secret)
        return sign(ticket_id, int(now) + LINK_DAYS * 86400, secret)

    async def ticket_of(self, token: str, now: float) -> str:
        """The ticket a genuine, unexpired token opens (Forbidden / LinkExpired otherwise)."""
        return verify(token, await deployment_secret(self._r, self._k.status_secret), now)

    async def take_view(self, source: str) -> int:
        """0 when `source` may view a page now, else the seconds to wait."""
        return await take_slot(self._r, self._k.status_views(source), VIEWS_PER_WINDOW,
                               VIEW_WINDOW_SECONDS)

    async def view(self, ticket_id: str, limit: int = MAX_ENTRIES) -> StatusView | None:
        """The ticket's status and its latest `limit` messages and replies; None when the
        ticket is gone. Reads only that ticket's keys, never more than `limit` of each."""
        k = self._k
        async with self._r.pipeline(transaction=False) as pipe:
            pipe.hgetall(k.ticket(ticket_id))
            pipe.lrange(k.ticket_msgs(ticket_id), -limit, -1)
            pipe.llen(k.ticket_msgs(ticket_id))
            fields, msg_ids, total = await pipe.execute()
        if not fields:
            return None
        ticket = ticket_from_hash(hash_reply(fields), tuple(_s(x) for x in msg_ids))
        messages = await TicketStore(self._r, k).messages(ticket)
        replies, more = await Outbox(self._r, k).latest(ticket_id, limit)
        return view(ticket.id, ticket.status, ticket.triage.language if ticket.triage else "",
                    ticket.updated_at, messages, replies, more=more or int(total) > limit,
                    limit=limit)
