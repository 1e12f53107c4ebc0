"""Claims and SLA sweep benchmark on a private embedded Redis (never one it did not start).

  claims/s and claim latency p50/p99 with 1,000 agents pulling from 100,000 queued tickets over
  50 skills (each agent has 3 skills, levels 1-3; some tickets need level 2 or 3): as fast as
  32 (and 4) clients can (closed loop: p99 there is queueing at saturation), and offered at
  the target's 2,000/s (open loop, latency from when each claim was due)
  SLA sweep: one tick over 100,000 running clocks when none is due, and the time to act on
  100,000 due breaches (escalation, review, notification, audit for each)

Run: .venv/bin/python bench/claims.py [--claims 20000] [--concurrency 32] [--runs 3] [--json]
Latency is measured from this client (redis-py over a unix socket), so it includes the
client's own cost; the script's cost inside Redis is a part of it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import harness
import redis.asyncio as aioredis
from harness import CpuMeter, ProcessTree, Report

from deskgate.models.routing import queue_name
from deskgate.models.sla import SlaConfig
from deskgate.models.ticket import Agent
from deskgate.queue import connection
from deskgate.queue.keys import Keys
from deskgate.queue.redis_server import EmbeddedRedis
from deskgate.queue.sla import Sla
from deskgate.queue.work import Work

TARGETS = {"claims_per_s": 2000, "claim_p99_ms": 10.0, "sweep_s": 2.0}
SKILLS = [f"skill{i:02d}" for i in range(50)]
LOW_CONCURRENCY_CLAIMS = 5000  # the latency at 4 clients
PACED_RATE = 2000              # issue 17: claims/s at which p99 must stay under 10 ms
PACED_CLIENTS = 32


async def populate(client: aioredis.Redis, keys: Keys, n_tickets: int, n_agents: int,
                   rng: random.Random) -> Work:
    work = Work(client, keys, lease_seconds=600)
    for i in range(n_agents):
        skills = {s: rng.choice((1, 2, 3)) for s in rng.sample(SKILLS, 3)}
        await work.put_agent(Agent(id=f"agent{i}", skills=skills, capacity=1000))
    now = time.time()
    async with client.pipeline(transaction=False) as pipe:
        for i in range(n_tickets):
            tid = f"B-{i}"
            q = queue_name(rng.choice(SKILLS), rng.choices((1, 2, 3), (8, 1, 1))[0])
            score = now - rng.uniform(0, 86400)
            pipe.hset(keys.ticket(tid), mapping={
                "id": tid, "status": "open", "skill": q, "priority": "P3",
                "queue_score": score, "created_at": score, "channel": "api",
                "account": "bench", "customer_id": "c_1"})
            pipe.zadd(keys.queue(q), {tid: score})
            pipe.sadd(keys.skills, q)
            if i % 5000 == 4999:
                await pipe.execute()
        await pipe.execute()
    return work


async def bench_claims(redis_url: str, keys: Keys, n_agents: int, claims: int,
                       concurrency: int, rng: random.Random) -> dict[str, float]:
    clients = [connection.async_client(redis_url) for _ in range(concurrency)]
    works = [Work(c, keys, lease_seconds=600) for c in clients]
    latencies: list[float] = []
    outcomes: dict[str, int] = {}
    per_worker = claims // concurrency

    async def run(w: Work, seed: int) -> None:
        r = random.Random(seed)
        for _ in range(per_worker):
            agent = f"agent{r.randrange(n_agents)}"
            t0 = time.perf_counter()
            res = await w.claim(agent)
            latencies.append(time.perf_counter() - t0)
            outcomes[res.outcome] = outcomes.get(res.outcome, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(run(w, rng.random()) for w in works))
    elapsed = time.perf_counter() - started
    for c in clients:
        await c.aclose()
    latencies.sort()
    return {"claims": len(latencies), "claims_per_s": len(latencies) / elapsed,
            "p50_ms": statistics.median(latencies) * 1000,
            "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
            "ok": outcomes.get("ok", 0), "empty": outcomes.get("empty", 0)}


async def bench_paced(redis_url: str, keys: Keys, n_agents: int, rate: float, seconds: float,
                      rng: random.Random) -> dict[str, float]:
    """Claims offered at a fixed rate (open loop, as agents arrive independently): latency from
    when each claim was due, so a stalled client or Redis counts against it (no coordinated
    omission)."""
    # as many connections as claims may be in flight (each client's pool holds 100)
    clients = [connection.async_client(redis_url) for _ in range(PACED_CLIENTS)]
    works = [Work(c, keys, lease_seconds=600) for c in clients]
    latencies: list[float] = []

    slots = asyncio.Semaphore(PACED_CLIENTS * 4)    # a bounded number of connections

    async def one(due: float, agent: str, work: Work) -> None:
        async with slots:
            await work.claim(agent)
        latencies.append(time.perf_counter() - due)

    tasks = []
    start = time.perf_counter()
    for i in range(int(rate * seconds)):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(due, f"agent{rng.randrange(n_agents)}",
                                             works[i % PACED_CLIENTS])))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    for c in clients:
        await c.aclose()
    latencies.sort()
    return {"per_s": len(latencies) / elapsed,
            "p50_ms": statistics.median(latencies) * 1000,
            "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000}


async def bench_sweep(client: aioredis.Redis, keys: Keys, n: int) -> dict[str, float]:
    sla = Sla(client, keys, SlaConfig())
    now = time.time()
    async with client.pipeline(transaction=False) as pipe:
        for i in range(n):
            tid = f"S-{i}"
            pipe.hset(keys.ticket(tid), mapping={
                "id": tid, "status": "open", "skill": "sla", "priority": "P3",
                "queue_score": now, "created_at": now, "res_due": now + 10})
            pipe.zadd(keys.queue("sla"), {tid: now})
            pipe.zadd(keys.sla_due, {f"{tid}|res|warn": now + 5, f"{tid}|res|breach": now + 10})
            if i % 5000 == 4999:
                await pipe.execute()
        await pipe.execute()
    t0 = time.perf_counter()
    idle = await sla.sweep(now)             # 100k clocks running, none due
    idle_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    warned = await sla.sweep(now + 6)       # every one of them warns
    warn_s = time.perf_counter() - t0
    redis_pid = int((await client.info("server"))["process_id"])
    cpu0, t0 = harness.cpu_seconds(redis_pid), time.perf_counter()
    due = await sla.sweep(now + 11)         # every one of them breached
    due_s = time.perf_counter() - t0
    due_cpu = harness.cpu_seconds(redis_pid) - cpu0
    assert idle.timers == 0 and warned.warnings == due.breaches == n, (idle, warned, due)
    return {"timers": n, "idle_tick_ms": idle_s * 1000, "all_warn_s": warn_s,
            "all_due_s": due_s, "breaches": due.breaches,
            "redis_cpu_us_per_breach": due_cpu * 1e6 / n}


async def one_run(url: str, keys: Keys, args: argparse.Namespace, run: int,
                  rng: random.Random) -> dict[str, float]:
    tree = ProcessTree(os.getpid())  # this client and the Redis it started
    meter = CpuMeter(tree)
    c = await bench_claims(url, keys, args.agents, args.claims, args.concurrency, rng)
    fig = {"claims_per_s": c["claims_per_s"], "claim_p50_ms": c["p50_ms"],
           "claim_p99_ms": c["p99_ms"], "claims_ok": c["ok"], "claims_empty": c["empty"],
           **{k.replace("other", "client"): v for k, v in meter.per_message(c["claims"]).items()}}
    low = await bench_claims(url, keys, args.agents, LOW_CONCURRENCY_CLAIMS, 4, rng)
    fig.update({"claims_per_s 4 clients": low["claims_per_s"],
                "claim_p99_ms 4 clients": low["p99_ms"]})
    paced = await bench_paced(url, keys, args.agents, PACED_RATE, args.paced_seconds, rng)
    fig.update({"claims_per_s paced": paced["per_s"], "claim_p50_ms paced": paced["p50_ms"],
                "claim_p99_ms paced": paced["p99_ms"]})
    client = connection.async_client(url)
    s = await bench_sweep(client, Keys(f"bsla{run}:"), args.timers)
    await client.aclose()
    fig.update({"sweep_idle_tick_ms": s["idle_tick_ms"], "sweep_all_warn_s": s["all_warn_s"],
                "sweep_all_due_s": s["all_due_s"],
                "sweep redis_cpu_us_per_breach": s["redis_cpu_us_per_breach"]})
    return fig


async def run_all(args: argparse.Namespace, report: Report) -> None:
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedRedis(Path(tmp))
        server.start()
        try:
            # one population for every run, large enough that each run starts with --tickets
            # queued (populating took most of a run's time)
            client = connection.async_client(server.url)
            keys = Keys("bench:")
            claimed_per_run = (args.claims + LOW_CONCURRENCY_CLAIMS
                               + int(PACED_RATE * args.paced_seconds))
            await populate(client, keys, args.tickets + (args.runs - 1) * claimed_per_run,
                           args.agents, rng)
            await client.aclose()
            for run in range(args.runs):
                report.add_run(await one_run(server.url, keys, args, run, rng))
        finally:
            server.stop()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--agents", type=int, default=1000)
    p.add_argument("--tickets", type=int, default=100_000)
    p.add_argument("--claims", type=int, default=20_000)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--timers", type=int, default=100_000)
    p.add_argument("--paced-seconds", type=float, default=5.0,
                   help=f"length of the open-loop run at {PACED_RATE:,} claims/s")
    harness.add_arguments(p)
    args = p.parse_args()
    report = Report("claims", args, notes=[
        f"{args.tickets:,} tickets over {len(SKILLS)} skills, {args.agents:,} agents, "
        f"{args.claims:,} claims from {args.concurrency} concurrent clients per run (one "
        f"population for all runs: each starts with at least {args.tickets:,} queued); SLA sweep over {args.timers:,} fresh clocks per run. CPU ms "
        "per claim: client = this process (redis-py)."])
    asyncio.run(run_all(args, report))
    report.target("claims_per_s", ">=", TARGETS["claims_per_s"],
                  f"claims/s ({args.concurrency} clients)")
    report.target("claim_p99_ms", "<", TARGETS["claim_p99_ms"], "  claim latency p99 ms")
    report.label("claim_p50_ms", "  claim latency p50 ms")
    report.target("claim_p99_ms 4 clients", "<", TARGETS["claim_p99_ms"],
                  "  claim latency p99 ms, 4 clients")
    report.target("claims_per_s paced", ">=", TARGETS["claims_per_s"] * 0.98,
                  f"claims/s offered at {PACED_RATE:,}/s (open loop)")
    report.label("claim_p50_ms paced", "  claim latency p50 ms from when due")
    report.target("claim_p99_ms paced", "<", TARGETS["claim_p99_ms"],
                  "  claim latency p99 ms from when due")
    report.label("sweep_idle_tick_ms", "SLA sweep tick, none due, ms")
    report.target("sweep_all_warn_s", "<", TARGETS["sweep_s"], f"SLA sweep, all {args.timers:,} warn, s")
    report.target("sweep_all_due_s", "<", TARGETS["sweep_s"],
                  f"SLA sweep, all {args.timers:,} breach, s")
    report.label("sweep redis_cpu_us_per_breach",
                 "  Redis CPU µs per breach (< 20 for 100,000 in 2 s on one core)")
    return report.finish()


if __name__ == "__main__":
    sys.exit(main())
