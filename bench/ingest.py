"""Ingest benchmark: starts its own `deskgate serve` (embedded Redis, private data dir), then
from this separate process posts messages over loopback and reports:

  accepted msgs/s and ack latency p50/p99   (phase 1: as fast as the gateway takes them)
  end-to-end msgs/s (accepted → in a skill queue) and e2e latency p50/p99 at 1,000 msgs/s
  offered (phase 2), from the workers' shared histogram
  peak RSS of the serve process tree

Run: make bench-ingest   (or: .venv/bin/python bench/ingest.py --seconds 10 --workers 1)
Bounded: every phase stops after --seconds; only 127.0.0.1 is contacted.

Phase 1 uses `wrk` (Debian package `wrk`) when it is installed: a Python client spends more CPU
per request than the gateway does, so on 2 cores it measures itself, not the gateway. Without
wrk the Python generator is used and the report says so.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import aiohttp
import psutil

TARGETS = {"accepted_per_s": 4000, "e2e_per_s": 1500, "e2e_p99_s": 1.0, "rss_mb": 400}
CLI = [sys.executable, "-m", "deskgate.gateway.cli.main"]
TEXTS = ["我的订单 DD20261118004521 还没发货，什么时候能到？",
         "Refund for order #A-88213 has not arrived, it has been two weeks.",
         "快递 SF1234567890123 三天没更新了",
         "The app crashes on login since the last update, please help ASAP"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.peak_gateway = 0
        self.peak_total = 0
        self.peak_by_role: dict[str, int] = {}
        self.stop = threading.Event()

    def cpu_by_role(self) -> dict[str, float]:
        """CPU seconds (user + system) used so far by each role of the serve tree."""
        out: dict[str, float] = {}
        for p in [self.root, *self.root.children(recursive=True)]:
            try:
                role = "gateway" if p.pid == self.root.pid else _role(p.cmdline())
                t = p.cpu_times()
                out[role] = out.get(role, 0.0) + t.user + t.system
            except psutil.Error:
                pass
        return out

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                procs = [self.root, *self.root.children(recursive=True)]
                rss = [p.memory_info().rss for p in procs]
                self.peak_gateway = max(self.peak_gateway, rss[0])
                self.peak_total = max(self.peak_total, sum(rss))
                for p, r in zip(procs[1:], rss[1:], strict=True):
                    role = _role(p.cmdline())
                    self.peak_by_role[role] = max(self.peak_by_role.get(role, 0), r)
            except psutil.Error:
                pass
            time.sleep(0.2)


def _role(cmdline: list[str]) -> str:
    text = " ".join(cmdline)
    if "redis-aof-rewrite" in text or "redis-rdb" in text:
        return "redis fork (AOF rewrite; shares the server's pages)"
    for role in ("retraining-worker", "worker", "redis-server"):
        if role in text:
            return role
    return "other"


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def e2e_histogram(http: aiohttp.ClientSession) -> dict[str, float]:
    async with http.get("/metrics") as resp:
        text = await resp.text()
    out = {}
    for line in text.splitlines():
        if line.startswith("deskgate_e2e_seconds_bucket"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            out[le] = float(line.rsplit(" ", 1)[1])
        elif line.startswith("deskgate_e2e_seconds_count"):
            out["count"] = float(line.rsplit(" ", 1)[1])
    return out


def hist_quantile(before: dict[str, float], after: dict[str, float], q: float) -> float:
    """Prometheus-style histogram_quantile over the delta of two scrapes."""
    bounds = sorted(float(k) for k in after if k not in ("count", "+Inf"))
    total = after.get("count", 0) - before.get("count", 0)
    if total <= 0:
        return float("nan")
    rank, prev_b, prev_c = q * total, 0.0, 0.0
    for b in bounds:
        c = after[str(b)] - before.get(str(b), 0)
        if c >= rank:
            return prev_b + (b - prev_b) * ((rank - prev_c) / max(c - prev_c, 1e-9))
        prev_b, prev_c = b, c
    return float("inf")


async def post_loop(http: aiohttp.ClientSession, headers: dict[str, str], run: str, start: int,
                    stop_at: float, latencies: list[float], interval: float = 0.0) -> int:
    n, i = 0, start
    next_at = time.perf_counter()
    while time.perf_counter() < stop_at:
        if interval:
            next_at += interval
            delay = next_at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        body = {"external_id": f"{run}-{i}", "thread_key": f"{run}-{i}",
                "sender": {"email": f"u{i % 5000}@bench.example"}, "text": TEXTS[i % len(TEXTS)]}
        t0 = time.perf_counter()
        async with http.post("/api/v1/messages", json=body, headers=headers) as resp:
            reply = await resp.read()
            if resp.status != 202:
                raise RuntimeError(f"unexpected {resp.status}: {reply[:300]!r}")
        latencies.append(time.perf_counter() - t0)
        n += 1
        i += 100_000_000
    return n


async def drain(http: aiohttp.ClientSession, total: float, timeout: float) -> float:
    """Wait until the workers have routed `total` messages since the server started."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (await e2e_histogram(http)).get("count", 0) >= total:
            return time.monotonic()
        await asyncio.sleep(0.05)
    raise RuntimeError("workers did not drain the backlog in time")


WRK_SCRIPT = """
counter = 0
request = function()
  counter = counter + 1
  local i = math.random(1, 2000000000)
  local body = '{"external_id":"wrk-' .. i .. '-' .. counter .. '","thread_key":"wrk-' .. i ..
    '","sender":{"email":"u' .. (i % 5000) .. '@bench.example"},"text":"%s"}'
  return wrk.format("POST", "/api/v1/messages", {["Content-Type"]="application/json",
    ["Authorization"]="Bearer TOKEN"}, body)
end
"""


def wrk_phase(base: str, token: str, seconds: float, concurrency: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_SCRIPT.replace("TEXT", TEXTS[0]).replace("TOKEN", token))
    out = subprocess.run(["wrk", "-t1", f"-c{concurrency}", f"-d{int(seconds)}s", "--latency",
                          "-s", f.name, base + "/"], capture_output=True, text=True,
                         check=True).stdout
    os.unlink(f.name)
    fig: dict[str, float] = {}
    for line in out.splitlines():
        parts = line.split()
        if line.strip().startswith("50%"):
            fig["ack_p50_ms"] = _ms(parts[1])
        elif line.strip().startswith("99%"):
            fig["ack_p99_ms"] = _ms(parts[1])
        elif line.startswith("Requests/sec:"):
            fig["accepted_per_s"] = float(parts[1])
        elif "requests in" in line:
            fig["accepted"] = float(parts[0])
        elif "Non-2xx" in line:
            raise RuntimeError(f"wrk saw errors: {line}")
    return fig


def _ms(text: str) -> float:
    for unit, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    return float(text)


async def bench(base: str, token: str, seconds: float, concurrency: int,
                cpu: RssSampler) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {token}"}
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(base_url=base, connector=conn) as http:
        # warm-up: token cache, script load, worker models
        warm = await post_loop(http, headers, "warm", 0, time.perf_counter() + 1, [])
        await drain(http, warm, 60)

        h0 = await e2e_histogram(http)
        cpu0 = cpu.cpu_by_role()
        t0 = time.monotonic()
        if shutil.which("wrk"):
            phase1 = await asyncio.to_thread(wrk_phase, base, token, seconds, concurrency)
            phase1["generator"] = "wrk"
        else:
            lat: list[float] = []
            counts = await asyncio.gather(*(post_loop(http, headers, "p1", k,
                                                      time.perf_counter() + seconds, lat)
                                            for k in range(concurrency)))
            phase1 = {"accepted": sum(counts), "accepted_per_s": sum(counts) / seconds,
                      "ack_p50_ms": pct(lat, 0.5) * 1000, "ack_p99_ms": pct(lat, 0.99) * 1000,
                      "generator": "python"}
        drained_at = await drain(http, h0["count"] + phase1["accepted"], 600)
        e2e_rate = phase1["accepted"] / (drained_at - t0)

        h1 = await e2e_histogram(http)
        offered = 1000
        lat2: list[float] = []
        per_conn = 50
        t1 = time.perf_counter()
        counts2 = await asyncio.gather(*(post_loop(http, headers, "p2", k, t1 + seconds, lat2,
                                                   interval=per_conn / offered)
                                         for k in range(per_conn)))
        await drain(http, h1["count"] + sum(counts2), 120)
        h2 = await e2e_histogram(http)
        cpu1 = cpu.cpu_by_role()
    routed = h2["count"] - h0["count"]
    cpu_ms = {f"cpu_ms_per_msg_{role}": (cpu1[role] - cpu0.get(role, 0.0)) * 1000 / routed
              for role in cpu1 if role in ("gateway", "worker", "redis-server")}
    return {
        **cpu_ms, "cpu_ms_per_msg_total": sum(cpu_ms.values()), "cpu_messages": routed,
        **phase1, "e2e_per_s": e2e_rate,
        "phase1_e2e_p99_s": hist_quantile(h0, h1, 0.99),
        "offered_per_s": sum(counts2) / (time.perf_counter() - t1),
        "e2e_p50_s": hist_quantile(h1, h2, 0.5), "e2e_p99_s": hist_quantile(h1, h2, 0.99),
        "ack_p99_ms_at_1000": pct(lat2, 0.99) * 1000,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    ap.add_argument("--workers", type=int, default=1, help="triage worker processes")
    ap.add_argument("--concurrency", type=int, default=64, help="connections in phase 1")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "DESKGATE_REDIS_URL"}
    with tempfile.TemporaryDirectory(prefix="dg-bench-") as tmp:
        data = Path(tmp)
        port = free_port()
        serve = subprocess.Popen([*CLI, "serve", "--port", str(port), "--data-dir", str(data),
                                  "--workers", str(args.workers), "--no-smtp"], env=env,
                                 stderr=open(data / "serve.log", "w"))
        sampler = RssSampler(serve.pid)
        try:
            token = subprocess.run([*CLI, "token", "create", "--role", "integration",
                                    "--data-dir", str(data)], env=env, capture_output=True,
                                   text=True, check=True).stdout.strip()
            base = f"http://127.0.0.1:{port}"
            for _ in range(300):
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                        break
                except OSError:
                    time.sleep(0.1)
            sampler.start()
            figures = asyncio.run(bench(base, token, args.seconds, args.concurrency, sampler))
        except Exception:
            print((data / "serve.log").read_text()[-3000:], file=sys.stderr)
            raise
        finally:
            sampler.stop.set()
            serve.send_signal(signal.SIGTERM)
            serve.wait(60)
    figures["gateway_rss_mb"] = sampler.peak_gateway / 2**20
    figures["serve_tree_rss_mb"] = sampler.peak_total / 2**20
    for role, peak in sampler.peak_by_role.items():
        figures[f"{role}_rss_mb"] = peak / 2**20
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    rows = [
        ("accepted msgs/s (phase 1)", figures["accepted_per_s"], f"≥ {TARGETS['accepted_per_s']}"),
        ("ack latency p50 ms", figures["ack_p50_ms"], ""),
        ("ack latency p99 ms", figures["ack_p99_ms"], ""),
        ("end-to-end msgs/s (backlog drain)", figures["e2e_per_s"], f"≥ {TARGETS['e2e_per_s']}"),
        ("offered msgs/s (phase 2)", figures["offered_per_s"], "1000"),
        ("e2e latency p50 s at 1,000/s", figures["e2e_p50_s"], ""),
        ("e2e latency p99 s at 1,000/s", figures["e2e_p99_s"], f"< {TARGETS['e2e_p99_s']}"),
        ("gateway peak RSS MB", figures["gateway_rss_mb"], ""),
        ("serve tree peak RSS MB (sum over processes)", figures["serve_tree_rss_mb"],
         f"< {TARGETS['rss_mb']}"),
        *((f"  of which {role} peak RSS MB", figures[f"{role}_rss_mb"], "")
          for role in sorted(sampler.peak_by_role)),
        *((f"CPU ms per message, {k.removeprefix('cpu_ms_per_msg_')} (phases 1+2)", v, "")
          for k, v in figures.items() if k.startswith("cpu_ms_per_msg_")),
    ]
    print(f"phase 1 load generator: {figures['generator']}"
          + ("" if figures["generator"] == "wrk" else
             " (install wrk for a generator that does not compete with the gateway for CPU)"))
    print(f"{'figure':<50} {'measured':>10}  target")
    for name, value, target in rows:
        print(f"{name:<50} {value:>10.2f}  {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
