"""Outbound benchmark: agents' replies through the outbox to a local stand-in of the channel,
for email (an SMTP relay) and a messaging channel (the WhatsApp Cloud API).

  throughput   replies/s from the first POST /replies to the last reply the stand-in received
               (sender workers as real `deskgate senders` processes)
  latency      at a paced 200 replies/s: API call start -> the stand-in has the reply, p50/p99
  restart      a sender process is restarted (SIGTERM, then SIGKILL) mid-run: every reply
               must arrive, none twice after the graceful restart, and after the SIGKILL at
               most the ones that were in flight (docs/outbound.md)
  CPU          ms of process CPU per reply for the gateway, the senders, Redis, the stand-in
               and this process (the load generator)

Each stand-in runs in a process of its own (so its CPU is measured apart and it does not share
an interpreter with the load generator) and CHECKS what it is sent: the relay takes mail only
with a From, one recipient and our Message-ID; the WhatsApp stand-in only a Bearer token and the
documented text-message body. It prints "<marker> <arrival time>" per reply for this process.

Run: .venv/bin/python bench/outbound.py [--channels email whatsapp] [--replies 3000]
     [--senders 2] [--seconds 10] [--runs 3]
Only 127.0.0.1 is contacted; Redis is a private embedded one in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import harness
import redis
from harness import Report, cpu_seconds, free_port, pct

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
WA_TOKEN = "bench-wa-token"
WA_PHONE_ID = "106540352242922"
MARK = re.compile(r"#(k\d+)#")      # the bench's own key, carried in each reply's text


# ---------------------------------------------------------------------------------------------
# The stand-ins (each `--stand-in <channel> <port>` in a process of its own)

class Arrivals:
    """Buffers "<marker> <time>" lines and writes them to stdout every 20 ms."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, marker: str) -> None:
        self.lines.append(f"{marker} {time.time():.6f}\n")

    async def flush_forever(self) -> None:
        while True:
            await asyncio.sleep(0.02)
            if self.lines:
                sys.stdout.write("".join(self.lines))
                sys.stdout.flush()
                self.lines.clear()


def relay_stand_in(port: int) -> None:
    """An SMTP relay that accepts only a mail with a sender, one recipient and our
    Message-ID, and reports the reply id in that Message-ID."""
    from aiosmtpd.smtp import SMTP

    mid = re.compile(rb"^Message-ID: <(r_[0-9a-f]+)\.", re.I | re.M)
    arrivals = Arrivals()

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            m = mid.search(envelope.content)
            if not envelope.mail_from or len(envelope.rcpt_tos) != 1 or m is None:
                return "550 a reply needs a sender, one recipient and a Message-ID"
            arrivals.add(m.group(1).decode())
            return "250 OK"

    async def main() -> None:
        loop = asyncio.get_running_loop()
        await loop.create_server(lambda: SMTP(Handler(), hostname="relay.bench"),
                                 "127.0.0.1", port)
        await arrivals.flush_forever()

    asyncio.run(main())


def whatsapp_stand_in(port: int) -> None:
    """POST /{phone-number-id}/messages as the Cloud API documents it: a Bearer token, a JSON
    text message (messaging_product, to, type, text.body); answers with a wamid."""
    from aiohttp import web

    arrivals = Arrivals()
    count = [0]

    def error(status: int, message: str) -> web.Response:
        return web.json_response({"error": {"message": message, "type": "OAuthException",
                                             "code": 100}}, status=status)

    async def messages(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {WA_TOKEN}":
            return error(401, "Invalid OAuth access token")
        if request.match_info["phone"] != WA_PHONE_ID:
            return error(400, "Unsupported post request: unknown phone number id")
        try:
            body = json.loads(await request.read())
            ok = (body["messaging_product"] == "whatsapp" and body["type"] == "text"
                  and body["to"].isdigit() and isinstance(body["text"]["body"], str))
        except (ValueError, KeyError, TypeError, AttributeError):
            ok = False
        if not ok:
            return error(400, "(#100) Invalid parameter")
        m = MARK.search(body["text"]["body"])
        arrivals.add(m.group(1) if m else "?")
        count[0] += 1
        return web.json_response({"messaging_product": "whatsapp",
                                  "contacts": [{"input": body["to"], "wa_id": body["to"]}],
                                  "messages": [{"id": f"wamid.bench{count[0]}"}]})

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/{phone}/messages", messages)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        await arrivals.flush_forever()

    asyncio.run(main())


class StandIn:
    """The stand-in process and the arrivals it reports: marker -> arrival times."""

    def __init__(self, channel: str, port: int) -> None:
        self.proc = subprocess.Popen([sys.executable, __file__, "--stand-in", channel,
                                      str(port)], stdout=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL)
        self.arrivals: dict[str, list[float]] = {}
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + 30
        while not harness.port_ready(port)():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"the {channel} stand-in did not start")
            time.sleep(0.05)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            marker, _, at = line.decode().partition(" ")
            with self._lock:
                self.arrivals.setdefault(marker, []).append(float(at))

    def clear(self) -> None:
        with self._lock:
            self.arrivals.clear()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


# ---------------------------------------------------------------------------------------------
# The system under test

def serve(port: int, data: str, config: str) -> None:
    from aiohttp import web

    from deskgate.gateway.config import load_config
    from deskgate.gateway.web.app import create_app

    app = create_app(load_config(config), os.environ[REDIS_URL_ENV], Path(data),
                     run_workers=False)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def customer_message(channel: str, i: int) -> InboundMessage:
    if channel == "email":
        return InboundMessage(channel=Channel.EMAIL, account="support", external_id=f"<b{i}@x>",
                              sender=Sender((Identity(IdentityKind.EMAIL,
                                                      f"c{i}@example.cn"),)),
                              received_at=datetime.now(UTC), text="我要退货", subject="退货",
                              thread_key=f"b{i}@x", meta={"message_id": f"b{i}@x"})
    wa_id = f"86138{i:08d}"
    return InboundMessage(channel=Channel.WHATSAPP, account="bench",
                          external_id=f"wamid.in{i}",
                          sender=Sender((Identity(IdentityKind.PLATFORM,
                                                  f"whatsapp:bench:{wa_id}"),)),
                          received_at=datetime.now(UTC), text="我要退货",
                          thread_key=f"whatsapp:bench:{wa_id}")


async def setup_tickets(url: str, keys: Keys, channel: str) -> list[str]:
    client = connection.async_client(url)
    work, store = Work(client, keys, lease_seconds=86400), TicketStore(client, keys)
    await work.put_agent(Agent(id="bench", skills={"general": 1}, capacity=100_000))
    now = time.time()
    triage = Triage(language="zh", topic="other", confidence=0.9, priority=Priority.P3,
                    sentiment=Sentiment.NEUTRAL, risk=Risk(high=False, score=0.0, reasons=()))
    ids = []
    for i in range(TICKETS):
        m = customer_message(channel, i)
        [ctx] = await store.resolve_customers([m], now)
        [a] = await store.apply([Placement(m, ctx.customer_id, triage, "general", now)], now)
        await work.act("transfer_agent", a.ticket_id, "bench", privileged=True, arg="bench")
        ids.append(a.ticket_id)
    await client.aclose()
    return ids


def config_text(channel: str, port: int) -> str:
    if channel == "email":
        return f"""
email:
  relay: {{host: 127.0.0.1, port: {port}, security: none,
          default_from: "客服 <support@shop.example.cn>"}}
senders: {{concurrency: 64, block_ms: 50}}
"""
    return f"""
channels:
  whatsapp:
    bench: {{app_secret: {"a" * 32}, verify_token: v, access_token: {WA_TOKEN},
             phone_number_id: "{WA_PHONE_ID}", api_base: "http://127.0.0.1:{port}"}}
senders: {{concurrency: 64, block_ms: 50}}
"""


class Load:
    """The agent's API calls; each reply's text carries its key as "#k<n>#"."""

    def __init__(self, base: str, token: str, tickets: list[str]) -> None:
        self.base, self.tickets = base, tickets
        self.headers = {"Authorization": f"Bearer {token}"}
        self.posted: dict[str, float] = {}        # key -> when its POST started
        self.rid: dict[str, str] = {}             # key -> reply id
        self.errors = 0
        self._n = 0

    async def post(self, http: aiohttp.ClientSession) -> None:
        self._n += 1
        key = f"k{self._n}"
        tid = self.tickets[self._n % len(self.tickets)]
        started = time.time()
        async with http.post(f"{self.base}/api/v1/tickets/{tid}/replies",
                             headers={**self.headers, "Idempotency-Key": key},
                             json={"text": f"您好，第 #{key}# 条回复。"}) as resp:
            if resp.status != 201:
                self.errors += 1
                return
            self.rid[key] = (await resp.json())["id"]
            self.posted[key] = started

    def clear(self) -> None:
        self.posted.clear()
        self.rid.clear()

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


class Rig:
    """Redis, one gateway, N sender processes and the stand-in for one channel."""

    def __init__(self, channel: str, tmp: Path, senders: int) -> None:
        self.channel = channel
        self.stand_port, self.port = free_port(), free_port()
        self.stand_in = StandIn(channel, self.stand_port)
        cfg = tmp / "config.yaml"
        cfg.write_text(config_text(channel, self.stand_port), encoding="utf-8")
        self.redis = EmbeddedRedis(tmp / "redis")
        self.url = self.redis.start()
        self.env = {**os.environ, REDIS_URL_ENV: self.url}
        self.tickets = asyncio.run(setup_tickets(self.url, Keys(), channel))
        self.sync = redis.Redis.from_url(self.url)
        token = create_token(self.sync, Keys(), Role.AGENT, agent_id="bench")[0]
        self.gateway = subprocess.Popen([sys.executable, __file__, "--serve", str(self.port),
                                         str(tmp), str(cfg)], env=self.env,
                                        stdin=subprocess.DEVNULL)
        self._sender_cmd = [*harness.CLI, "senders", "--config", str(cfg), "--data-dir",
                            str(tmp)]
        self.senders = [self.spawn(i) for i in range(senders)]
        self.base = f"http://127.0.0.1:{self.port}"
        self.load = Load(self.base, token, self.tickets)
        deadline = time.monotonic() + 60
        while not harness.http_ready(self.port)():
            if time.monotonic() > deadline or self.gateway.poll() is not None:
                raise RuntimeError("the gateway did not start")
            time.sleep(0.05)
        self.redis_pid = int(self.sync.info("server")["process_id"])

    def spawn(self, slot: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self._sender_cmd,
                                env={**self.env, "DESKGATE_WORKER_SLOT": f"b{slot}"},
                                stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def cpu(self) -> dict[str, float]:
        def of(pids: list[int]) -> float:
            total = 0.0
            for pid in pids:
                with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                    total += cpu_seconds(pid)
            return total

        return {"gateway": of([self.gateway.pid]),
                "senders": of([p.pid for p in self.senders]),
                "redis": of([self.redis_pid]), "stand-in": of([self.stand_in.proc.pid]),
                "loadgen": harness.self_cpu_seconds()}

    def clear(self) -> None:
        self.load.clear()
        self.stand_in.clear()

    def arrived(self, key: str) -> list[float]:
        marker = key if self.channel != "email" else self.load.rid.get(key, "")
        return self.stand_in.arrivals.get(marker, [])

    async def wait_all(self, timeout: float) -> float:
        """Until every posted reply arrived (or timeout); the last first arrival."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if all(self.arrived(k) for k in list(self.load.posted)):
                break
            await asyncio.sleep(0.02)
        return max((a[0] for k in self.load.posted if (a := self.arrived(k))), default=0.0)

    def lost_dup(self) -> tuple[int, int]:
        lost = sum(1 for k in self.load.posted if not self.arrived(k))
        dup = sum(max(0, len(self.arrived(k)) - 1) for k in self.load.posted)
        return lost, dup

    def stop(self) -> None:
        for p in [*self.senders, self.gateway]:
            p.terminate()
        for p in [*self.senders, self.gateway]:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.stand_in.stop()
        self.redis.stop()


async def one_run(rig: Rig, args: argparse.Namespace) -> dict[str, float]:
    load = rig.load
    rig.clear()
    cpu0 = rig.cpu()
    t0 = time.time()
    await load.burst(args.replies, args.concurrency)
    accepted = time.time() - t0
    last = await rig.wait_all(120)
    cpu1 = rig.cpu()
    n = len(load.posted)
    lost, dup = rig.lost_dup()
    ch = rig.channel
    fig = {f"{ch} replies_per_s": n / (last - t0) if last else 0.0,
           f"{ch} api_per_s": n / accepted, f"{ch} lost": lost, f"{ch} dup": dup,
           f"{ch} api_errors": load.errors}
    for role in cpu0:
        fig[f"{ch} cpu_ms_per_reply {role}"] = (cpu1[role] - cpu0[role]) * 1000 / max(n, 1)
    fig[f"{ch} cpu_ms_per_reply tree"] = sum(
        fig[f"{ch} cpu_ms_per_reply {r}"] for r in ("gateway", "senders", "redis"))

    rig.clear()
    await load.paced(200, args.seconds)
    await rig.wait_all(60)
    lat = [(a[0] - s) * 1000 for k, s in load.posted.items() if (a := rig.arrived(k))]
    fig[f"{ch} p50_ms_at_200"] = pct(lat, 0.5)
    fig[f"{ch} p99_ms_at_200"] = pct(lat, 0.99)
    fig[f"{ch} lost_at_200"] = len(load.posted) - len(lat)
    return fig


async def restarts(rig: Rig, args: argparse.Namespace) -> dict[str, float]:
    out = {}
    for how, sig in (("SIGTERM", signal.SIGTERM), ("SIGKILL", signal.SIGKILL)):
        rig.clear()
        run_load = asyncio.create_task(rig.load.burst(1000, args.concurrency))
        while sum(1 for k in list(rig.load.posted) if rig.arrived(k)) < 200:
            await asyncio.sleep(0.01)
        rig.senders[0].send_signal(sig)
        await asyncio.to_thread(rig.senders[0].wait)
        rig.senders[0] = rig.spawn(0)
        await run_load
        await rig.wait_all(120)
        lost, dup = rig.lost_dup()
        out[f"{rig.channel} restart {how} lost"] = lost
        out[f"{rig.channel} restart {how} dup"] = dup
    return out


def bench_channel(channel: str, args: argparse.Namespace, report: Report) -> None:
    with tempfile.TemporaryDirectory(prefix="dg-bench-outbound-") as tmp:
        rig = Rig(channel, Path(tmp), args.senders)
        try:
            # warm-up (imports, script loading, connections), not counted
            asyncio.run(warm_up(rig, args))
            runs = [asyncio.run(one_run(rig, args)) for _ in range(args.runs)]
            extra = asyncio.run(restarts(rig, args)) if args.restarts else {}
        finally:
            rig.stop()
    for i, fig in enumerate(runs):
        if i < len(report.runs):
            report.runs[i].update(fig)
        else:
            report.add_run(dict(fig))
    report.runs[0].update(extra)


async def warm_up(rig: Rig, args: argparse.Namespace) -> None:
    await rig.load.burst(200, args.concurrency)
    await rig.wait_all(60)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--channels", nargs="+", default=["email", "whatsapp"],
                    choices=["email", "whatsapp"])
    ap.add_argument("--replies", type=int, default=3000, help="replies in the throughput run")
    ap.add_argument("--senders", type=int, default=2, help="`deskgate senders` processes")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of the paced run")
    ap.add_argument("--concurrency", type=int, default=32, help="API calls in flight")
    ap.add_argument("--no-restarts", dest="restarts", action="store_false",
                    help="skip the SIGTERM/SIGKILL sender restarts")
    ap.add_argument("--serve", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--stand-in", nargs=2, help=argparse.SUPPRESS)
    harness.add_arguments(ap)
    args = ap.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1], args.serve[2])
        return 0
    if args.stand_in:
        stand_ins: dict[str, Callable[[int], None]] = {"email": relay_stand_in,
                                                        "whatsapp": whatsapp_stand_in}
        stand_ins[args.stand_in[0]](int(args.stand_in[1]))
        return 0
    report = Report("outbound", args, notes=[
        f"{args.replies:,} replies per throughput run from {args.concurrency} API clients over "
        f"{TICKETS} tickets, {args.senders} sender processes (concurrency 64 each), paced run "
        f"{args.seconds:g} s at 200/s. CPU ms per reply: tree = gateway + senders + Redis; "
        "the stand-in (a relay / provider of its own) and loadgen (this process) apart."])
    for channel in args.channels:
        bench_channel(channel, args, report)
        report.target(f"{channel} replies_per_s", ">=", TARGETS["replies_per_s"])
        report.target(f"{channel} p99_ms_at_200", "<", TARGETS["p99_ms_at_200"])
        for key in ("lost", "dup", "lost_at_200", "restart SIGTERM lost", "restart SIGTERM dup",
                    "restart SIGKILL lost"):
            if any(f"{channel} {key}" in r for r in report.runs):
                report.target(f"{channel} {key}", "<=", 0)
    return report.finish()


if __name__ == "__main__":
    sys.exit(main())
