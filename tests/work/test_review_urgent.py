"""The review queue's order: urgent risks (self-harm) before everything else, oldest first among
themselves; an urgent message on a ticket already waiting in review moves it to the front."""

from __future__ import annotations

from datetime import UTC, datetime

import redis.asyncio as aioredis

from deskgate.models.enums import Channel, IdentityKind, Priority, Sentiment
from deskgate.models.message import Identity, InboundMessage, Sender
from deskgate.models.triage import Risk, RiskCategory, Triage
from deskgate.queue.keys import Keys
from deskgate.queue.review import ReviewQueue
from deskgate.queue.tickets import Placement, TicketStore


def _triage(urgent: bool) -> Triage:
    cat = RiskCategory(name="self_harm" if urgent else "legal_regulator", score=0.9,
                       threshold=0.5, flagged=True, reasons=("“x”",))
    return Triage(language="zh", topic="other", confidence=0.9,
                  priority=Priority.P1 if urgent else Priority.P2, sentiment=Sentiment.NEGATIVE,
                  risk=Risk(high=True, score=0.9, reasons=(cat.name,), categories=(cat,),
                            urgent=urgent))


async def _put(store: TicketStore, who: str, ext: str, at: float, urgent: bool) -> str:
    m = InboundMessage(channel=Channel.API, account="default", external_id=ext,
                       sender=Sender((Identity(IdentityKind.EMAIL, f"{who}@example.cn"),)),
                       received_at=datetime.fromtimestamp(at, UTC), text="…")
    [ctx] = await store.resolve_customers([m], at)
    [applied] = await store.apply([Placement(m, ctx.customer_id, _triage(urgent), "general", at)],
                                  at)
    return applied.ticket_id


async def test_urgent_items_come_first_and_an_urgent_follow_up_moves_a_ticket_up(
        aclient: aioredis.Redis, keys: Keys) -> None:
    store = TicketStore(aclient, keys)
    t0 = 1_800_000_000.0
    legal = await _put(store, "a", "u1", t0, urgent=False)
    other = await _put(store, "b", "u2", t0 + 10, urgent=False)
    harm = await _put(store, "c", "u3", t0 + 20, urgent=True)
    harm2 = await _put(store, "d", "u4", t0 + 30, urgent=True)
    items, total = await ReviewQueue(aclient, keys).items()
    assert [i.ticket_id for i in items] == [harm, harm2, legal, other] and total == 4
    assert [i.urgent for i in items] == [True, True, False, False]
    assert [i.since for i in items] == [t0 + 20, t0 + 30, t0, t0 + 10]

    # the same customer writes again on the waiting legal ticket, now with a self-harm message
    again = await _put(store, "a", "u5", t0 + 40, urgent=True)
    assert again == legal
    items, _ = await ReviewQueue(aclient, keys).items()
    assert [i.ticket_id for i in items] == [harm, harm2, legal, other]
    assert items[2].urgent and items[2].since == t0 + 40
    # an ordinary follow-up never moves an urgent ticket back
    await _put(store, "c", "u6", t0 + 50, urgent=False)
    items, _ = await ReviewQueue(aclient, keys).items()
    assert items[0].ticket_id == harm and items[0].urgent and items[0].since == t0 + 20
