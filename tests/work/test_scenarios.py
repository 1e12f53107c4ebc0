"""What a support manager expects, against the real scripts and a real Redis, with time driven
by explicit `now` arguments."""

from __future__ import annotations

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis

from deskgate.models.enums import AgentStatus, Priority
from deskgate.models.routing import Overflow, Route, RoutingTable
from deskgate.models.sla import Calendar, SlaConfig, SlaPolicy, Team
from deskgate.models.ticket import Agent
from deskgate.queue.audit import AuditLog
from deskgate.queue.routing import RoutingStore
from deskgate.queue.sla import Sla, SweepResult
from deskgate.queue.tickets import TicketStore
from deskgate.queue.work import Work

T0 = 1_780_000_000.0


async def test_overlapping_skills_and_levels(aclient, keys, enqueue) -> None:
    work = Work(aclient, keys, lease_seconds=600)
    b1 = await enqueue("billing", T0)
    t1 = await enqueue("tech", T0 + 1)
    senior = await enqueue("billing@3", T0 - 600)     # needs billing level 3, waited longest
    await work.put_agent(Agent(id="ann", skills={"billing": 1, "tech": 2}, capacity=5))
    await work.put_agent(Agent(id="bo", skills={"billing": 3}, capacity=5))
    # ann cannot take the level-3 ticket although it waited longest
    assert (await work.claim("ann", T0 + 10)).ticket_id == b1
    assert (await work.claim("bo", T0 + 10)).ticket_id == senior
    assert (await work.claim("bo", T0 + 10)).outcome == "empty"   # tech is not bo's
    assert (await work.claim("ann", T0 + 10)).ticket_id == t1


async def test_vip_flood_serves_vips_first_but_nobody_starves(aclient, keys, enqueue) -> None:
    work = Work(aclient, keys, lease_seconds=600)
    old_standard = await enqueue("care", T0 - 5 * 3600)          # waited 5 h
    vips = [await enqueue("care", T0 + i, tier="vip") for i in range(30)]
    new_standard = await enqueue("care", T0 + 40)
    await work.put_agent(Agent(id="al", skills={"care": 1}, capacity=100))
    order = [(await work.claim("al", T0 + 60)).ticket_id for _ in range(32)]
    # the 5-hour-old ticket beats the VIP boost (4 h); then VIPs in arrival order; then the rest
    assert order == [old_standard, *vips, new_standard]


async def test_agent_disappears_mid_ticket(aclient, keys, enqueue) -> None:
    work = Work(aclient, keys, lease_seconds=300)
    first = await enqueue("general", T0)
    second = await enqueue("general", T0 + 5)
    await work.put_agent(Agent(id="gone", skills={"general": 1}))
    await work.put_agent(Agent(id="here", skills={"general": 1}))
    assert (await work.claim("gone", T0 + 10)).ticket_id == first
    # activity renews the lease: at T0+200 the lease is renewed to T0+500
    assert (await work.act("note", first, "gone", privileged=False, arg="looking",
                           now=T0 + 200)).outcome == "ok"
    assert await work.expire_leases(T0 + 400) == []
    # then silence: the lease runs out and the ticket goes back to the front
    assert await work.expire_leases(T0 + 501) == [first]
    assert await work.held_by("gone") == []
    assert (await work.claim("here", T0 + 502)).ticket_id == first
    history = await AuditLog(aclient, keys).history(first)
    assert [(e.action, e.actor) for e in history] == [
        ("claim", "gone"), ("note", "gone"), ("lease_expired", "system"), ("claim", "here")]
    assert history[2].before == "assigned:gone" and history[2].after == "open"
    assert second


async def test_skill_over_capacity_overflows_and_returns(aclient, keys, enqueue) -> None:
    work = Work(aclient, keys, lease_seconds=600)
    table = RoutingTable(overflow={"billing": Overflow(backup="general", max_load=0.8,
                                                       return_below=0.5)})
    routing = RoutingStore(aclient, keys, table)
    for a in ("b1", "b2"):
        await work.put_agent(Agent(id=a, skills={"billing": 1}, capacity=5))
    held = [await enqueue("billing", T0 + i) for i in range(8)]
    for i in range(8):
        assert (await work.claim(f"b{i % 2 + 1}", T0 + 10)).outcome == "ok"
    # 8 of 10 slots held: new billing work spills to general
    r = await routing.place(Route("billing"), T0 + 20, table)
    assert (r.skill, r.overflowed_from) == ("general", "billing")
    # pressure falls to 6/10: still above return_below, stays on the backup (no flapping)
    for tid in held[:2]:
        assert (await work.resolve(tid, "x", privileged=True, now=T0 + 30)).outcome == "ok"
    routing._pressure.clear()
    assert (await routing.place(Route("billing"), T0 + 31, table)).skill == "general"
    # 4/10: back to billing
    for tid in held[2:4]:
        await work.resolve(tid, "x", privileged=True, now=T0 + 40)
    routing._pressure.clear()
    assert (await routing.place(Route("billing"), T0 + 41, table)).skill == "billing"
    actions = [e.action for e in (await AuditLog(aclient, keys).recent(limit=50))[0]]
    assert actions.count("overflow_on") == 1 and actions.count("overflow_off") == 1


async def test_overflow_on_waiting_time(aclient, keys, enqueue) -> None:
    work = Work(aclient, keys)
    table = RoutingTable(overflow={"tech": Overflow(backup="general", max_load=1.0,
                                                    max_wait_minutes=30)})
    routing = RoutingStore(aclient, keys, table)
    await work.put_agent(Agent(id="t1", skills={"tech": 1}, capacity=10))
    await enqueue("tech", T0)
    assert (await routing.place(Route("tech"), T0 + 600, table)).skill == "tech"
    routing._pressure.clear()
    assert (await routing.place(Route("tech"), T0 + 1900, table)).skill == "general"


SHANGHAI = ZoneInfo("Asia/Shanghai")


def _at(*args: int) -> float:
    return datetime(*args, tzinfo=SHANGHAI).timestamp()


WEEKDAYS = Calendar(timezone="Asia/Shanghai", holidays=("2026-10-01",))
WORK = SlaConfig(
    teams={"cn-billing": Team(skills=("billing",), managers=("mei",), calendar=WEEKDAYS,
                              escalation_skill="escalations")},
    sla=(SlaPolicy(name="high", priorities=(Priority.P2,), first_response_minutes=240,
                   resolution_minutes=24 * 60),
         SlaPolicy(name="urgent-24x7", priorities=(Priority.P1,), first_response_minutes=60,
                   resolution_minutes=240, business_hours=False),
         SlaPolicy(name="rest", first_response_minutes=480, resolution_minutes=72 * 60)))


async def test_weekend_business_hours_and_breach_escalated_on_time(aclient, keys,
                                                                   enqueue) -> None:
    friday_5pm = _at(2026, 3, 6, 17, 0)
    tid = await enqueue("billing", friday_5pm, Priority.P2)
    sla = Sla(aclient, keys, WORK)
    assert await sla.start([tid], friday_5pm) == 1
    assert await sla.start([tid], friday_5pm) == 0          # a replay starts nothing twice
    ticket = await aclient.hgetall(keys.ticket(tid))
    # 4 business hours: 1 on Friday, 3 on Monday -> Monday 12:00, not Friday 21:00
    assert float(ticket[b"frt_due"]) == _at(2026, 3, 9, 12, 0)
    assert ticket[b"sla_policy"] == b"high" and ticket[b"team"] == b"cn-billing"
    assert await sla.sweep(_at(2026, 3, 8, 23, 0)) == SweepResult(0, 0, 0)   # Sunday night
    # warned at 80 % (3h12m of business time: Monday 11:12)
    warned = await sla.sweep(_at(2026, 3, 9, 11, 12))
    assert (warned.warnings, warned.breaches) == (1, 0)
    breach = await sla.sweep(_at(2026, 3, 9, 12, 0))
    assert breach.breaches == 1
    t = await TicketStore(aclient, keys).get(tid)
    assert t is not None and t.priority == "P1" and t.skill == "escalations"
    assert await aclient.zscore(keys.queue("escalations"), tid) is not None
    assert await aclient.zscore(keys.queue("billing"), tid) is None
    assert await aclient.zscore(keys.review, tid) is not None
    assert b"SLA breach: first response" in await aclient.hget(keys.ticket(tid), "review_reasons")
    events = [f for _, f in await aclient.xrange(keys.notify)]
    assert [(e[b"kind"], e[b"timer"], e[b"team"]) for e in events] == [
        (b"warn", b"frt", b"cn-billing"), (b"breach", b"frt", b"cn-billing")]
    # nothing fires twice
    assert (await sla.sweep(_at(2026, 3, 9, 13, 0))).timers == 0


async def test_pending_pauses_the_clock_and_holidays_skip(aclient, keys, enqueue) -> None:
    work = Work(aclient, keys, lease_seconds=600)
    sla = Sla(aclient, keys, WORK, lease_seconds=600)
    start = _at(2026, 9, 30, 16, 0)                 # Wednesday; Thursday 1 Oct is a holiday
    tid = await enqueue("billing", start, Priority.P2)
    await sla.start([tid], start)
    assert float(await aclient.hget(keys.ticket(tid), "frt_due")) == _at(2026, 10, 2, 11, 0)
    await work.put_agent(Agent(id="mei-agent", skills={"billing": 1}))
    assert (await work.claim("mei-agent", start + 60)).ticket_id == tid
    asked = _at(2026, 9, 30, 17, 0)                 # 1 business hour used, 3 left
    left = await sla.remaining(tid, asked)
    assert left["frt"] == 3 * 3600
    r = await work.act("pending", tid, "mei-agent", privileged=False, extra=left, now=asked)
    assert r.outcome == "ok"
    assert await work.held_by("mei-agent") == []          # pending does not use capacity
    # days pass while the customer is silent: nothing fires
    assert (await sla.sweep(_at(2026, 10, 6, 12, 0))).timers == 0
    # the customer answers (apply_message moves it back to assigned) on Tuesday 10:00
    await aclient.hset(keys.ticket(tid), "status", "assigned")
    answered = _at(2026, 10, 6, 10, 0)
    assert await sla.resume_answered(answered) == [tid]
    assert float(await aclient.hget(keys.ticket(tid), "frt_due")) == _at(2026, 10, 6, 13, 0)
    assert await work.held_by("mei-agent") == [tid]
    assert (await sla.sweep(_at(2026, 10, 6, 13, 0))).breaches == 1


async def test_first_response_stops_its_clock_resolution_keeps_running(aclient, keys,
                                                                       enqueue) -> None:
    work, sla = Work(aclient, keys), Sla(aclient, keys, WORK)
    now = _at(2026, 3, 10, 3, 0)
    tid = await enqueue("tech", now, Priority.P1)           # 24x7 policy, no team
    await sla.start([tid], now)
    await work.put_agent(Agent(id="nk", skills={"tech": 1}))
    await work.claim("nk", now)
    assert (await work.act("respond", tid, "nk", privileged=False, now=now + 600)).outcome == "ok"
    result = await sla.sweep(now + 3 * 3600)                  # past the 1 h first response
    assert (result.warnings, result.breaches) == (0, 0)
    assert (await sla.sweep(now + 4 * 3600)).breaches == 1    # resolution: 4 h, around the clock


async def test_many_agents_claim_at_once(redis_url, keys, enqueue) -> None:
    clients = [aioredis.Redis.from_url(redis_url) for _ in range(8)]
    works = [Work(c, keys, lease_seconds=600) for c in clients]
    n_agents, capacity = 40, 3
    for i in range(n_agents):
        await works[0].put_agent(Agent(id=f"a{i}", skills={"s1": 1, "s2": 1}, capacity=capacity))
    tickets = {await enqueue("s1" if i % 2 else "s2", T0 + i) for i in range(n_agents * capacity)}

    async def agent_loop(i: int) -> list[str]:
        w, got = works[i % len(works)], []
        while True:
            r = await w.claim(f"a{i}", T0 + 1000)
            if r.outcome != "ok":
                assert r.outcome in ("full", "empty")
                return got
            got.append(r.ticket_id)

    results = await asyncio.gather(*(agent_loop(i) for i in range(n_agents)))
    claimed = [t for got in results for t in got]
    assert len(claimed) == len(set(claimed)) == len(tickets)   # none twice, none lost
    assert set(claimed) == tickets
    assert all(len(got) == capacity for got in results)       # capacity never exceeded
    for i in range(n_agents):
        assert len(await works[0].held_by(f"a{i}")) == capacity
    for c in clients:
        await c.aclose()


async def test_push_mode_balances_and_respects_level_and_status(aclient, keys, enqueue) -> None:
    work = Work(aclient, keys)
    await work.put_agent(Agent(id="p1", skills={"chat": 2}, capacity=2))
    await work.put_agent(Agent(id="p2", skills={"chat": 1}, capacity=4))
    await work.put_agent(Agent(id="p3", skills={"chat": 2}, capacity=4,
                               status=AgentStatus.AWAY))
    for i in range(4):
        await enqueue("chat", T0 + i)
    senior = await enqueue("chat@2", T0)
    pushed = await work.push("chat", T0 + 10)
    # least loaded first (held / capacity), ties to the longest idle, then by id; p3 is away
    assert [a.agent_id for a in pushed] == ["p1", "p2", "p2", "p1"]
    # the level-2 ticket: only p1 and p3 have level 2; p1 is full, p3 away -> it waits
    assert await work.push("chat@2", T0 + 20) == []
    assert await aclient.zscore(keys.queue("chat@2"), senior) is not None
    await work.resolve(pushed[0].ticket_id, "p1", privileged=False, now=T0 + 30)
    assert [(a.ticket_id, a.agent_id) for a in await work.push("chat@2", T0 + 40)] == [
        (senior, "p1")]


async def test_both_clocks_breaching_in_one_sweep_escalate_an_assigned_ticket_twice(
        aclient, keys, enqueue) -> None:
    # two breaches of one ticket in the same sweep call: the second must see the first's
    # writes (status, queue, priority, reasons), whatever the script batches
    urgent = SlaConfig(teams=WORK.teams, sla=(SlaPolicy(
        name="rest", first_response_minutes=60, resolution_minutes=60, business_hours=False),))
    start = _at(2026, 3, 9, 9, 0)
    tid = await enqueue("billing", start, Priority.P3)
    work = Work(aclient, keys, lease_seconds=86400)
    await work.put_agent(Agent(id="lin", skills={"billing": 1}))
    assert (await work.claim("lin", start)).ticket_id == tid
    sla = Sla(aclient, keys, urgent)
    assert await sla.start([tid], start) == 1
    await aclient.hset(keys.ticket(tid), mapping={"review_reasons": "angry",
                                                  "review_outcome": "dismissed"})
    swept = await sla.sweep(start + 2 * 3600)
    assert (swept.warnings, swept.breaches) == (2, 2)
    t = await aclient.hgetall(keys.ticket(tid))
    assert t[b"priority"] == b"P1" and t[b"skill"] == b"escalations"
    assert t[b"status"] == b"open" and t[b"assignee"] == b""
    assert b"review_outcome" not in t
    assert t[b"review_reasons"] == b"angry; SLA breach: first response; SLA breach: resolution"
    assert await work.held_by("lin") == []
    assert await aclient.zscore(keys.leases, tid) is None
    assert await aclient.zscore(keys.queue("escalations"), tid) == float(t[b"queue_score"])
    assert await aclient.zscore(keys.queue("billing"), tid) is None
    assert await aclient.zscore(keys.review, tid) == start + 2 * 3600
    trail = [(e.action, e.before, e.after) for e in await AuditLog(aclient, keys).history(tid)
             if e.action == "escalate"]
    assert trail == [("escalate", "P3 billing", "P2 escalations"),
                     ("escalate", "P2 escalations", "P1 escalations")]
