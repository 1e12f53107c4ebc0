"""Claims and SLA sweep benchmark on a private embedded Redis (never one it did not start).

  claims/s and claim latency p50/p99 with 1,000 agents pulling from 100,000 queued tickets over
  50 skills (each agent has 3 skills, levels 1-3; some tickets need level 2 or 3)
  SLA sweep: one tick over 100,000 running clocks when none is due, and the time to act on
  100,000 due breaches (escalation, review, notification, audit for each)

Run: .venv/bin/python bench/claims.py [--claims 20000] [--concurrency 32]
Latency is measured from this client (redis-py over a unix socket), so it includes the
client's own cost; the script's cost inside Redis is a part of it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

import psutil
import redis.asyncio as aioredis

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
    t0 = time.perf_counter()
    due = await sla.sweep(now + 11)         # every one of them breached
    due_s = time.perf_counter() - t0
    assert idle.timers == 0 and warned.warnings == due.breaches == n, (idle, warned, due)
    return {"timers": n, "idle_tick_ms": idle_s * 1000, "all_warn_s": warn_s,
            "all_due_s": due_s, "breaches": due.breaches}


class CpuMeter:
    """Process CPU time (user + system) of this process and of the Redis server: the figure
    that machine noise barely moves, unlike rates on a shared machine."""

    def __init__(self, redis_pid: int) -> None:
        self.redis = psutil.Process(redis_pid)

    def now(self) -> tuple[float, float]:
        t = self.redis.cpu_times()
        return time.process_time(), t.user + t.system

    def ms_per(self, since: tuple[float, float], n: int) -> dict[str, float]:
        client, server = self.now()
        return {"client_cpu_ms": (client - since[0]) * 1000 / n,
                "redis_cpu_ms": (server - since[1]) * 1000 / n}


async def main(args: argparse.Namespace) -> None:
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedRedis(Path(tmp))
        server.start()
        try:
            client = connection.async_client(server.url)
            keys = Keys("bench:")
            t0 = time.perf_counter()
            await populate(client, keys, args.tickets, args.agents, rng)
            print(f"populated {args.tickets:,} tickets over {len(SKILLS)} skills and "
                  f"{args.agents:,} agents in {time.perf_counter() - t0:.1f} s")
            cpu = CpuMeter(int((server.redis_dir / "redis.pid").read_text()))
            before = cpu.now()
            c = await bench_claims(server.url, keys, args.agents, args.claims, args.concurrency,
                                   rng)
            c.update(cpu.ms_per(before, c["claims"]))
            print(f"claims: {c['claims']:,} ({c['ok']:,} ok, {c['empty']:,} empty) with "
                  f"{args.concurrency} concurrent clients")
            print(f"  claims/s      {c['claims_per_s']:8.0f}   target >= "
                  f"{TARGETS['claims_per_s']}")
            print(f"  latency p50   {c['p50_ms']:8.2f} ms")
            print(f"  latency p99   {c['p99_ms']:8.2f} ms   target < {TARGETS['claim_p99_ms']} ms")
            print(f"  CPU per claim {c['redis_cpu_ms']:8.3f} ms in Redis, "
                  f"{c['client_cpu_ms']:.3f} ms in this client")
            low = await bench_claims(server.url, keys, args.agents, 5000, 4, rng)
            print(f"  at 4 concurrent clients: {low['claims_per_s']:.0f} claims/s, "
                  f"p50 {low['p50_ms']:.2f} ms, p99 {low['p99_ms']:.2f} ms   target < "
                  f"{TARGETS['claim_p99_ms']} ms")
            before = cpu.now()
            s = await bench_sweep(client, Keys("bsla:"), args.timers)
            s.update(cpu.ms_per(before, s["timers"]))
            print(f"SLA sweep over {s['timers']:,} clocks:")
            print(f"  tick, none due        {s['idle_tick_ms']:8.2f} ms")
            print(f"  all {s['breaches']:,} warned     {s['all_warn_s']:8.2f} s    target < "
                  f"{TARGETS['sweep_s']} s")
            print(f"  all {s['breaches']:,} breached   {s['all_due_s']:8.2f} s    target < "
                  f"{TARGETS['sweep_s']} s")
            print(f"  CPU per clock (set up, warn, breach) {s['redis_cpu_ms']:.4f} ms in Redis")
            print(json.dumps({"claims": c, "claims_4_clients": low, "sweep": s, "targets": TARGETS}))
            await client.aclose()
        finally:
            server.stop()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--agents", type=int, default=1000)
    p.add_argument("--tickets", type=int, default=100_000)
    p.add_argument("--claims", type=int, default=20_000)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--timers", type=int, default=100_000)
    asyncio.run(main(p.parse_args()))
