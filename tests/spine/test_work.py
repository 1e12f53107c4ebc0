"""Claims, priority order, aging, capacity and lease expiry against the real scripts."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import redis.asyncio as aioredis

from deskgate.models.enums import Channel, IdentityKind, Priority, Sentiment
from deskgate.models.message import Identity, InboundMessage, Sender
from deskgate.models.scoring import queue_score
from deskgate.models.ticket import Agent
from deskgate.models.triage import Triage
from deskgate.queue.keys import Keys
from deskgate.queue.tickets import Placement, TicketStore
from deskgate.queue.work import Work


def _msg(n: int) -> InboundMessage:
    return InboundMessage(channel=Channel.API, account="default", external_id=f"w{n}",
                          sender=Sender((Identity(IdentityKind.EMAIL, f"c{n}@x.cn"),)),
                          received_at=datetime.now(UTC), text=f"message {n}",
                          thread_key=f"w{n}")


async def _enqueue(store: TicketStore, n: int, priority: Priority, at: float,
                   tier: str = "standard") -> str:
    m = _msg(n)
    [ctx] = await store.resolve_customers([m], at)
    t = Triage(language="en", topic="other", confidence=0.9, priority=priority,
               sentiment=Sentiment.NEUTRAL)
    [applied] = await store.apply([Placement(m, ctx.customer_id, t, "general",
                                             queue_score(at, priority, tier))], at)
    assert applied.outcome == "new"
    return applied.ticket_id


async def test_priority_first_then_waiting_time_and_old_work_ages_up(redis_url, prefix) -> None:
    client = aioredis.Redis.from_url(redis_url)
    keys = Keys(prefix)
    store, work = TicketStore(client, keys), Work(client, keys, lease_seconds=60)
    now = time.time()
    p3_old = await _enqueue(store, 1, Priority.P3, now - 600)
    p1_new = await _enqueue(store, 2, Priority.P1, now)
    p3_new = await _enqueue(store, 3, Priority.P3, now)
    p4_ancient = await _enqueue(store, 4, Priority.P4, now - 3 * 86400)
    vip_p3 = await _enqueue(store, 5, Priority.P3, now, tier="vip")
    await work.put_agent(Agent(id="ann", skills={"general": 1}, capacity=10))
    order = [(await work.claim("ann", now)).ticket_id for _ in range(5)]
    assert order == [p4_ancient, p1_new, vip_p3, p3_old, p3_new]
    await client.aclose()


async def test_capacity_and_lease_expiry_return_the_ticket(redis_url, prefix) -> None:
    client = aioredis.Redis.from_url(redis_url)
    keys = Keys(prefix)
    store, work = TicketStore(client, keys), Work(client, keys, lease_seconds=30)
    now = time.time()
    first = await _enqueue(store, 1, Priority.P2, now - 100)
    second = await _enqueue(store, 2, Priority.P2, now)
    await work.put_agent(Agent(id="bob", skills={"general": 1}, capacity=1))
    await work.put_agent(Agent(id="cy", skills={"general": 1}, capacity=1))
    assert (await work.claim("bob", now)).ticket_id == first
    assert (await work.claim("bob", now)).outcome == "full"
    assert await work.expire_leases(now + 29) == []
    assert await work.expire_leases(now + 31) == [first]
    assert await work.held_by("bob") == []
    ticket = await store.get(first)
    assert ticket is not None and ticket.status == "open" and ticket.assignee == ""
    # back at the front: the next claim gets it again, before the newer ticket
    assert (await work.claim("cy", now + 32)).ticket_id == first
    audit = await client.xrange(keys.audit)
    actions = [fields[b"action"].decode() for _, fields in audit]
    assert actions == ["claim", "lease_expired", "claim"]
    assert second
    await client.aclose()


async def test_unknown_and_offline_agents_cannot_claim(redis_url, prefix) -> None:
    client = aioredis.Redis.from_url(redis_url)
    work = Work(client, Keys(prefix))
    assert (await work.claim("ghost")).outcome == "unknown"
    from deskgate.models.enums import AgentStatus
    await work.put_agent(Agent(id="zz", skills={"general": 1}, status=AgentStatus.OFFLINE))
    assert (await work.claim("zz")).outcome == "offline"
    await client.aclose()


async def test_replaying_a_message_changes_nothing(redis_url, prefix) -> None:
    client = aioredis.Redis.from_url(redis_url)
    keys = Keys(prefix)
    store = TicketStore(client, keys)
    now = time.time()
    m = _msg(7)
    [ctx] = await store.resolve_customers([m], now)
    [again] = await store.resolve_customers([m], now)
    assert ctx.customer_id == again.customer_id
    t = Triage(language="en", topic="other", confidence=0.9, priority=Priority.P3,
               sentiment=Sentiment.NEUTRAL)
    pl = Placement(m, ctx.customer_id, t, "general", now)
    [a] = await store.apply([pl], now)
    [b] = await store.apply([pl], now)
    assert (a.outcome, b.outcome) == ("new", "replay") and a.ticket_id == b.ticket_id
    assert await client.llen(keys.ticket_msgs(a.ticket_id)) == 1
    assert await client.zcard(keys.queue("general")) == 1
    await client.aclose()


async def test_ingest_lag_counts_undelivered_and_unacknowledged_entries(redis_url,
                                                                        prefix) -> None:
    from deskgate.models.codec import encode
    from deskgate.queue.stream import IngestReader

    client = aioredis.Redis.from_url(redis_url)
    keys = Keys(prefix)
    reader = IngestReader(client, keys, "c1")
    await reader.ensure_group()
    for n in range(5):
        await client.xadd(keys.ingest, {"id": _msg(n).id, "m": encode(_msg(n))})
    assert await reader.lag() == 5
    got = await reader.read(2, 10)
    assert await reader.lag() == 5, "read but unacknowledged entries still count"
    await reader.ack([e.entry_id for e in got])
    assert await reader.lag() == 3
    await client.aclose()
