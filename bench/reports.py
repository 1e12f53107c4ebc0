"""Report rollups benchmark on a private embedded Redis (never one it did not start).

  consumer: audit events folded per second by queue/rollups.py (target >= 2,000/s), with CPU
            ms per event of this process (the consumer) and of redis-server
  memory:   rollup bytes for one day of tickets (MEMORY USAGE of its day and hour hashes)
  reports:  latency p50/p99 of each report over 30 days when 90 days of rollups hold ~1M
            tickets (target p99 < 200 ms), and CPU ms per report of this process and of
            redis-server: "cold" with this process's caches emptied before every request (a
            first request, or one right after the rollups moved), "warm" as a report page's
            repeated requests find them; --repeat times (default 3: median and range)

One synthetic day (--per-day tickets, default 11,112 = 1M / 90) is driven through the real
consumer: tickets stored the way the worker stores them, every life event (created, claim,
first response, pending and the customer's answer, transfer, SLA breach, review, resolve with
corrections, reopen) appended to {p}audit. That day's rollups are then copied to the other 89
days (a day's field count saturates with the dimensions, not with the ticket count), so the
report reads what 90 days of 1M tickets would leave.

Run: .venv/bin/python bench/reports.py [--per-day 11112] [--runs 100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

import harness
import redis.asyncio as aioredis

from deskgate.gateway.web.api import reports as api
from deskgate.gateway.web.api.reports import REPORTS, Query
from deskgate.models.reports import Filter
from deskgate.models.rollup import PROJECTIONS
from deskgate.models.sla import Calendar, SlaConfig, Team
from deskgate.queue import connection
from deskgate.queue import rollups as rollups_module
from deskgate.queue.keys import Keys
from deskgate.queue.redis_server import EmbeddedRedis
from deskgate.queue.rollups import DAY, HOUR, Rollups, bucket_numbers

TARGETS = {"events_per_s": 2000, "report_p99_ms": 200.0}
TEAMS = {f"team{i}": (f"skill{i}a", f"skill{i}b") for i in range(5)}
CHANNELS = ("email", "webchat", "wechat", "whatsapp", "messenger", "telegram", "sms", "api")
TOPICS = ("billing", "refund", "shipping", "account", "tech", "order", "complaint", "product",
          "returns", "other")
PRIORITIES = (("P1", "urgent", 5), ("P2", "high", 20), ("P3", "normal", 60), ("P4", "low", 15))
HOURLY = [1, 1, 1, 1, 1, 2, 4, 7, 10, 12, 12, 11, 9, 10, 11, 11, 10, 9, 7, 6, 5, 4, 3, 2]
DAY0 = 1_780_012_800.0           # a UTC midnight


def config() -> SlaConfig:
    cal = Calendar(timezone="Asia/Shanghai",
                   hours={d: ("09:00-18:00",) for d in ("mon", "tue", "wed", "thu", "fri")})
    return SlaConfig(teams={t: Team(skills=s, calendar=cal) for t, s in TEAMS.items()})


def lives(n: int, rng: random.Random) -> tuple[list[dict[str, object]], dict[str, dict[str, str]]]:
    """Audit entries (sorted by time) and ticket hashes of n tickets opened on DAY0."""
    events: list[dict[str, object]] = []
    tickets: dict[str, dict[str, str]] = {}
    for i in range(n):
        tid = f"DG-{i}"
        team = rng.choice(list(TEAMS))
        skill = rng.choice(TEAMS[team])
        prio, policy, _ = rng.choices(PRIORITIES, [w for *_, w in PRIORITIES])[0]
        topic = rng.choice(TOPICS)
        tickets[tid] = {
            "team": team, "skill": skill, "channel": rng.choice(CHANNELS), "priority": prio,
            "sla_policy": policy, "triage": json.dumps({
                "topic": topic, "priority": prio, "sentiment": "neutral",
                "model_version": rng.choice(("v3", "v4"))})}
        if rng.random() < 0.03:
            tickets[tid]["review_reasons"] = "threatens legal action"
        agents = [f"{team}-agent{k}" for k in range(10)]
        t = DAY0 + rng.choices(range(24), HOURLY)[0] * HOUR + rng.uniform(0, HOUR)

        def ev(at: float, action: str, actor: str = "system", before: str = "",
               after: str = "", detail: str = "", tid: str = tid) -> None:
            events.append({"ts": at, "actor": actor, "action": action, "ticket": tid,
                           "before": before, "after": after, "detail": detail})

        ev(t, "created", after=skill, detail="rule")
        if "review_reasons" in tickets[tid]:
            ev(t + rng.uniform(60, 3600), rng.choice(("review_acknowledged", "review_false_alarm",
                                                      "review_escalated")), "mgr")
        agent = rng.choice(agents)
        t += rng.expovariate(1 / 1800)
        ev(t, "claim", agent, "open", f"assigned:{agent}")
        if rng.random() < 0.05:
            ev(t + 60, "escalate", "sla", f"{prio} {skill}", f"{prio} {skill}",
               "SLA breach: first response")
        if rng.random() < 0.08:
            other = rng.choice(agents)
            t += rng.uniform(60, 900)
            ev(t, "transfer", agent, f"assigned:{agent}", f"assigned:{other}")
            agent = other
        t += rng.expovariate(1 / 900)
        ev(t, "first_response", agent)
        if rng.random() < 0.1:
            t += rng.uniform(60, 600)
            ev(t, "pending", agent, f"assigned:{agent}", "pending")
            t += rng.expovariate(1 / 7200)
            ev(t, "customer_replied", "system", "pending", "assigned")
        if rng.random() < 0.9:
            t += rng.expovariate(1 / 3600)
            fix = {"topic": rng.choice(TOPICS)} if rng.random() < 0.3 else {}
            ev(t, "resolve", agent, "assigned", "resolved", json.dumps(fix) if fix else "")
            if rng.random() < 0.05:
                ev(t + rng.uniform(600, 86400), "reopen", agent, "resolved", "open", "again")
    events.sort(key=lambda e: float(e["ts"]))      # type: ignore[arg-type]
    return events, tickets


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def redis_pid(server: EmbeddedRedis) -> int:
    return int((server.redis_dir / "redis.pid").read_text())


async def load(client: aioredis.Redis, keys: Keys, events: list[dict[str, object]],
               tickets: dict[str, dict[str, str]]) -> None:
    async with client.pipeline(transaction=False) as pipe:
        for n, (tid, fields) in enumerate(tickets.items()):
            pipe.hset(keys.ticket(tid), mapping=fields)
            if n % 5000 == 4999:
                await pipe.execute()
        for n, e in enumerate(events):
            pipe.xadd(keys.audit, e)           # type: ignore[arg-type]
            if n % 5000 == 4999:
                await pipe.execute()
        await pipe.execute()


async def copy_days(client: aioredis.Redis, keys: Keys, days: int) -> None:
    """The first day's rollups copied to `days - 1` earlier days (hours: the last 40)."""
    day0 = int(DAY0 // DAY)
    for proj in PROJECTIONS:
        dumped = await client.dump(keys.rpt_bucket(proj, "d", day0))
        # a week holds about the fields of a day (the dimensions saturate), with larger counts
        for (gran, n) in {bucket_numbers(DAY0 - back * DAY)[2] for back in range(days)}:
            if dumped:
                await client.restore(keys.rpt_bucket(proj, gran, n), 0, dumped, replace=True)
        hours = [(h, await client.dump(keys.rpt_bucket(proj, "h", day0 * 24 + h)))
                 for h in range(24)]
        for back in range(1, days):
            if dumped:
                await client.restore(keys.rpt_bucket(proj, "d", day0 - back), 0, dumped,
                                     replace=True)
            if back < 40:
                for h, blob in hours:
                    if blob:
                        await client.restore(keys.rpt_bucket(proj, "h", (day0 - back) * 24 + h),
                                             0, blob, replace=True)


async def day_memory(client: aioredis.Redis, keys: Keys) -> tuple[int, int, int]:
    day0 = int(DAY0 // DAY)
    total = fields = 0
    for proj in PROJECTIONS:
        for k in [keys.rpt_bucket(proj, "d", day0),
                  *(keys.rpt_bucket(proj, "h", day0 * 24 + h) for h in range(24))]:
            total += int(await client.memory_usage(k, samples=0) or 0)
        fields += int(await client.hlen(keys.rpt_bucket(proj, "d", day0)))
    per_ticket_state = 0
    async for k in client.scan_iter(match=keys.p + "rpt:fold:*", count=1000):
        per_ticket_state += int(await client.memory_usage(k) or 0)
        break
    return total, fields, per_ticket_state


def forget() -> None:
    """Empty this process's report caches: the next request reads Redis as a first one."""
    rollups_module._bucket_cache.clear()
    rollups_module._bucket_cache.fields = 0
    api._forecast_cache.clear()


async def timed(run: api.Run, rollups: Rollups, q: Query, rpid: int, runs: int, *,
                mode: str, client: aioredis.Redis,
                keys: Keys) -> tuple[float, float, float, float]:
    """(p50 ms, p99 ms, client CPU ms per report, redis-server CPU ms per report) of `runs`
    requests: "cold" with the caches emptied before each, "live" with one audit entry folded
    into the range's last day before each (as the workers do all day), "warm" as they are."""
    took = []
    cpu_client = cpu_redis = 0.0
    await run(rollups, q)                               # the caches of a warm page
    for i in range(runs):
        if mode == "cold":
            forget()
        elif mode == "live":
            await client.xadd(keys.audit, {"ts": DAY0 + 12 * HOUR, "actor": "mgr",
                                           "action": "escalate", "ticket": f"DG-{i}",
                                           "before": "", "after": "", "detail": "bench"})
            await rollups.catch_up()
        c0, r0, t0 = time.process_time(), cpu_s(rpid), time.perf_counter()
        await run(rollups, q)
        took.append(1000 * (time.perf_counter() - t0))
        cpu_client += time.process_time() - c0
        cpu_redis += cpu_s(rpid) - r0
    took.sort()
    return (statistics.median(took), took[min(len(took) - 1, int(0.99 * len(took)))],
            1000 * cpu_client / runs, 1000 * cpu_redis / runs)


async def main(args: argparse.Namespace) -> None:
    rng = random.Random(7)
    load_before = harness.loadavg()
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedRedis(Path(tmp))
        server.start()
        try:
            client = connection.async_client(server.url)
            keys = Keys("bench:")
            events, tickets = lives(args.per_day, rng)
            await load(client, keys, events, tickets)
            print(f"one day: {len(tickets):,} tickets, {len(events):,} audit events")
            rollups = Rollups(client, keys, config())
            rpid = redis_pid(server)
            c0, r0, w0 = time.process_time(), cpu_s(rpid), time.perf_counter()
            folded = await rollups.catch_up()
            wall = time.perf_counter() - w0
            c1, r1 = time.process_time() - c0, cpu_s(rpid) - r0
            print(f"consumer: {folded:,} events in {wall:.2f} s = {folded / wall:,.0f} events/s "
                  f"(target >= {TARGETS['events_per_s']:,}); CPU ms/event: consumer "
                  f"{1000 * c1 / folded:.3f}, redis-server {1000 * r1 / folded:.3f}")
            mem, fields, state = await day_memory(client, keys)
            print(f"rollups of one day: {mem / 1e6:.2f} MB (day + 24 hour hashes, all "
                  f"projections), {fields:,} fields in the day hashes; a ticket's fold state "
                  f"~{state} B (30 days after resolution)")
            await copy_days(client, keys, 90)
            info = await client.info("memory")
            print(f"90 days of rollups in Redis: used_memory {info['used_memory'] / 1e6:.0f} MB "
                  f"(includes the audit stream and ticket hashes of the one simulated day)")
            end = DAY0 + DAY
            q = Query(start=end - 30 * DAY, end=end, now=end, filter=Filter())
            figures: dict[tuple[str, str], list[tuple[float, float, float, float]]] = {}
            for _ in range(args.repeat):
                for name, run in REPORTS.items():
                    for mode in ("cold", "live", "warm"):
                        figures.setdefault((name, mode), []).append(
                            await timed(run, rollups, q, rpid, args.runs, mode=mode,
                                        client=client, keys=keys))
            print(f"reports over 30 days, {args.runs} requests each, {args.repeat} runs "
                  "(median [range]); ms")
            worst = {"cold": 0.0, "live": 0.0, "warm": 0.0}
            for (name, mode), runs in figures.items():
                cols = [harness.median_range([r[i] for r in runs]) for i in range(4)]
                worst[mode] = max(worst[mode], cols[1][0])
                print(f"  {name:<10} {mode}: " + "   ".join(
                    f"{label} {m:7.1f} [{lo:.1f}-{hi:.1f}]" for label, (m, lo, hi) in
                    zip(("p50", "p99", "CPU client", "CPU redis"), cols, strict=True)))
            print(f"worst median p99: cold {worst['cold']:.1f} ms, live {worst['live']:.1f} ms, "
                  f"warm {worst['warm']:.1f} ms (target < {TARGETS['report_p99_ms']:.0f} ms)")
            print(f"commit {harness.commit()}, load average before {load_before}, after "
                  f"{harness.loadavg()}")
            await client.aclose()
        finally:
            server.stop()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-day", type=int, default=11_112, help="tickets opened in the day")
    ap.add_argument("--runs", type=int, default=100, help="timed requests of each report")
    ap.add_argument("--repeat", type=int, default=3, help="runs of the report phase")
    asyncio.run(main(ap.parse_args()))
