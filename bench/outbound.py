"""Outbound benchmark: agents' replies through the outbox to a local stand-in relay.

  throughput   replies/s from the first POST /replies to the last mail the stand-in relay
               received (sender workers as real `deskgate senders` processes, email through a
               local aiosmtpd stand-in, one SMTP session per reply as in production)
  latency      at a paced 200 replies/s: API call start -> the stand-in has the mail, p50/p99
  restart      a sender process is restarted (SIGTERM, then SIGKILL) mid-run: every reply
               must arrive, none twice after the graceful restart, and after the SIGKILL at
               most the ones that were in flight (docs/outbound.md)
  CPU          ms of process CPU per reply for the gateway, the senders and Redis

Run: .venv/bin/python bench/outbound.py [--replies 3000] [--senders 2] [--seconds 10]
Only 127.0.0.1 is contacted; Redis is a private embedded one in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import redis
from aiosmtpd.controller import Controller

from deskgate.models.enums import Channel, IdentityKind, Priority, Role, Sentiment
from deskgate.models.message import Identity, InboundMessage, Sender
from deskgate.models.ticket import Agent
from deskgate.models.triage import Risk, Triage
from deskgate.queue import connection
from deskgate.queue.keys import Keys
from deskgate.queue.redis_server import REDIS_URL_ENV, EmbeddedRedis
from deskgate.queue.tickets import Placement, TicketStore
from deskgate.queue.tokens import create_token
from deskgate.queue.work import Work

TARGETS = {"replies_per_s": 500, "p99_ms_at_200": 1000}
TICKETS = 200
_RID = re.compile(rb"Message-ID: <(r_[0-9a-f]+)\.", re.I)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class StandIn:
    """The relay: records when each reply's mail arrived (by the reply id in its Message-ID)."""

    def __init__(self) -> None:
        self.arrivals: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        m = _RID.search(envelope.original_content or envelope.content)
        with self._lock:
            self.arrivals.setdefault(m.group(1).decode() if m else "?", []).append(time.time())
        return "250 OK"


def serve(port: int, data: str, config: str) -> None:
    from aiohttp import web

    from deskgate.gateway.config import load_config
    from deskgate.gateway.web.app import create_app

    app = create_app(load_config(config), os.environ[REDIS_URL_ENV], Path(data),
                     run_workers=False)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


async def setup_tickets(url: str, keys: Keys) -> list[str]:
    client = connection.async_client(url)
    work, store = Work(client, keys, lease_seconds=86400), TicketStore(client, keys)
    await work.put_agent(Agent(id="bench", skills={"general": 1}, capacity=100_000))
    now = time.time()
    triage = Triage(language="zh", topic="other", confidence=0.9, priority=Priority.P3,
                    sentiment=Sentiment.NEUTRAL, risk=Risk(high=False, score=0.0, reasons=()))
    ids = []
    for i in range(TICKETS):
        m = InboundMessage(channel=Channel.EMAIL, account="support", external_id=f"<b{i}@x>",
                           sender=Sender((Identity(IdentityKind.EMAIL, f"c{i}@example.cn"),)),
                           received_at=datetime.now(UTC), text="我要退货", subject="退货",
                           thread_key=f"b{i}@x", meta={"message_id": f"b{i}@x"})
        [ctx] = await store.resolve_customers([m], now)
        [a] = await store.apply([Placement(m, ctx.customer_id, triage, "general", now)], now)
        await work.act("transfer_agent", a.ticket_id, "bench", privileged=True, arg="bench")
        ids.append(a.ticket_id)
    await client.aclose()
    return ids


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


class Load:
    def __init__(self, base: str, token: str, tickets: list[str]) -> None:
        self.base, self.tickets = base, tickets
        self.headers = {"Authorization": f"Bearer {token}"}
        self.posted: dict[str, float] = {}
        self.errors = 0
        self._n = 0

    async def post(self, http: aiohttp.ClientSession) -> None:
        self._n += 1
        tid = self.tickets[self._n % len(self.tickets)]
        started = time.time()
        async with http.post(f"{self.base}/api/v1/tickets/{tid}/replies",
                             headers={**self.headers, "Idempotency-Key": f"k{self._n}"},
                             json={"text": f"您好，第 {self._n} 条回复。"}) as resp:
            if resp.status != 201:
                self.errors += 1
                return
            self.posted[(await resp.json())["id"]] = started

    async def burst(self, count: int, concurrency: int) -> None:
        async with aiohttp.ClientSession() as http:
            left = [count]

            async def worker() -> None:
                while left[0] > 0:
                    left[0] -= 1
                    await self.post(http)

            await asyncio.gather(*(worker() for _ in range(concurrency)))

    async def paced(self, rate: float, seconds: float) -> None:
        async with aiohttp.ClientSession() as http:
            tasks, start = [], time.monotonic()
            for i in range(int(rate * seconds)):
                delay = start + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(self.post(http)))
            await asyncio.gather(*tasks)


def cpu_ms(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += (t.user + t.system) * 1000
        except psutil.NoSuchProcess:
            pass
    return total


async def wait_for(stand_in: StandIn, ids: set[str], timeout: float) -> float:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if ids <= stand_in.arrivals.keys():
            break
        await asyncio.sleep(0.02)
    return max((stand_in.arrivals[i][0] for i in ids if i in stand_in.arrivals), default=0.0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--replies", type=int, default=3000, help="replies in the throughput run")
    ap.add_argument("--senders", type=int, default=2, help="`deskgate senders` processes")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of the paced run")
    ap.add_argument("--concurrency", type=int, default=32, help="API calls in flight")
    ap.add_argument("--serve", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1], args.serve[2])
        return 0
    return asyncio.run(run(args))


async def run(args: argparse.Namespace) -> int:
    stand_in = StandIn()
    relay_port = free_port()
    relay = Controller(stand_in, hostname="127.0.0.1", port=relay_port)
    relay.start()
    with tempfile.TemporaryDirectory(prefix="dg-bench-outbound-") as tmp:
        data = Path(tmp)
        cfg = data / "config.yaml"
        cfg.write_text(f"""
email:
  relay: {{host: 127.0.0.1, port: {relay_port}, security: none,
          default_from: "客服 <support@shop.example.cn>"}}
senders: {{concurrency: 64, block_ms: 50}}
""", encoding="utf-8")
        server = EmbeddedRedis(data / "redis")
        url = server.start()
        env = {**os.environ, REDIS_URL_ENV: url}
        keys = Keys()
        tickets = await setup_tickets(url, keys)
        sync = redis.Redis.from_url(url)
        token = create_token(sync, keys, Role.AGENT, agent_id="bench")[0]
        port = free_port()
        gateway = subprocess.Popen([sys.executable, __file__, "--serve", str(port), str(data),
                                    str(cfg)], env=env, stdin=subprocess.DEVNULL)
        sender_cmd = [sys.executable, "-m", "deskgate.gateway.cli.main", "senders", "--config",
                      str(cfg), "--data-dir", str(data)]

        def spawn(slot: int) -> subprocess.Popen[bytes]:
            return subprocess.Popen(sender_cmd, env={**env, "DESKGATE_WORKER_SLOT": f"b{slot}"},
                                    stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        senders = [spawn(i) for i in range(args.senders)]
        base = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession() as http:
                for _ in range(200):
                    try:
                        async with http.get(f"{base}/healthz") as r:
                            if r.status < 500:
                                break
                    except aiohttp.ClientError:
                        await asyncio.sleep(0.05)
            redis_proc = psutil.Process(int(sync.info("server")["process_id"]))
            gw = psutil.Process(gateway.pid)
            load = Load(base, token, tickets)
            # warm-up (imports, script loading, connections), not counted
            await load.burst(200, args.concurrency)
            await wait_for(stand_in, set(load.posted), 60)
            load.posted.clear()
            stand_in.arrivals.clear()

            # 1. throughput
            procs = [psutil.Process(p.pid) for p in senders]
            cpu0 = (cpu_ms([gw]), cpu_ms(procs), cpu_ms([redis_proc]))
            t0 = time.time()
            await load.burst(args.replies, args.concurrency)
            accepted = time.time() - t0
            last = await wait_for(stand_in, set(load.posted), 120)
            n = len(load.posted)
            cpu1 = (cpu_ms([gw]), cpu_ms(procs), cpu_ms([redis_proc]))
            through = {"replies": n, "api_per_s": n / accepted,
                       "end_to_end_per_s": n / (last - t0) if last else 0.0,
                       "cpu": [(b - a) / n for a, b in zip(cpu0, cpu1, strict=True)],
                       "lost": len(set(load.posted) - stand_in.arrivals.keys()),
                       "dup": sum(len(v) - 1 for v in stand_in.arrivals.values())}

            # 2. latency at a paced 200/s
            load.posted.clear()
            stand_in.arrivals.clear()
            await load.paced(200, args.seconds)
            await wait_for(stand_in, set(load.posted), 60)
            lat = [(stand_in.arrivals[r][0] - s) * 1000 for r, s in load.posted.items()
                   if r in stand_in.arrivals]

            # 3. restarts mid-run: graceful, then SIGKILL
            restart = {}
            for how, sig in (("SIGTERM", signal.SIGTERM), ("SIGKILL", signal.SIGKILL)):
                load.posted.clear()
                stand_in.arrivals.clear()
                run_load = asyncio.create_task(load.burst(1000, args.concurrency))
                while len(stand_in.arrivals) < 200:
                    await asyncio.sleep(0.01)
                senders[0].send_signal(sig)
                await asyncio.to_thread(senders[0].wait)
                senders[0] = spawn(0)
                await run_load
                await wait_for(stand_in, set(load.posted), 120)
                restart[how] = (len(load.posted),
                                len(set(load.posted) - stand_in.arrivals.keys()),
                                sum(len(v) - 1 for v in stand_in.arrivals.values()))
        finally:
            for p in [*senders, gateway]:
                p.terminate()
            for p in [*senders, gateway]:
                p.wait(20)
            relay.stop()
            server.stop()

    load_avg = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average at the end: {load_avg}  ({os.cpu_count()} cores, shared)")
    print(f"{'replies in the throughput run':<48} {through['replies']:>10}")
    print(f"{'API accepted replies/s':<48} {through['api_per_s']:>10.0f}")
    print(f"{'end to end replies/s (POST -> stand-in)':<48} {through['end_to_end_per_s']:>10.0f}"
          f"  ≥ {TARGETS['replies_per_s']}")
    print(f"{'p50 / p99 ms at 200/s (POST -> stand-in)':<48} "
          f"{statistics.median(lat):>5.0f} / {pct(lat, 0.99):>4.0f}  "
          f"p99 < {TARGETS['p99_ms_at_200']}  ({len(lat)} of {len(load.posted)} arrived)")
    for role, ms in zip(("gateway", "senders", "redis"), through["cpu"], strict=True):
        print(f"{'CPU ms per reply, ' + role:<48} {ms:>10.2f}")
    print(f"{'lost / duplicated (throughput run)':<48} {through['lost']:>5} / {through['dup']}")
    for how, (n, lost, dup) in restart.items():
        print(f"{'restart by ' + how + ': replies / lost / dup':<48} {n:>5} / {lost} / {dup}")
    ok = (through["end_to_end_per_s"] >= TARGETS["replies_per_s"]
          and pct(lat, 0.99) < TARGETS["p99_ms_at_200"] and through["lost"] == 0
          and restart["SIGTERM"][1:] == (0, 0) and restart["SIGKILL"][1] == 0)
    print("targets met" if ok else "targets NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
