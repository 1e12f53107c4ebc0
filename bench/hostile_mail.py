"""Hostile-mail benchmark: starts its own `deskgate serve` (embedded Redis, private data dir,
SMTP on a free loopback port, one triage worker), then for --seconds delivers the hostile
shapes of tests/email/hostile.py at --rate per second (one connection each, so a slow reply
does not slow the sender) alongside normal corpus mail at --normal-rate per second, while a
prober asks GET /healthz every 20 ms. Reports /healthz latency (target: p99 < 100 ms), how
many mails got 250, how many became degraded messages (raw kept), and CPU time per message of
the gateway process (threads included) and of its children (triage worker, Redis, the SMTP
parse processes), from
/proc/<pid>/stat. Repeats --runs times, each with a fresh serve, and prints median and range.

Run: .venv/bin/python bench/hostile_mail.py [--seconds 20] [--rate 10] [--normal-rate 20]
     [--runs 3]          (or: make bench-hostile-mail ARGS="--runs 3")
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import shutil
import smtplib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests" / "email"))
from harness import ProcessTree, commit, free_port, port_ready  # noqa: E402
from hostile import SHAPES  # noqa: E402 - the tests' hostile shapes
from mail import (  # noqa: E402 - the mail bench's helpers
    PREFIX,
    message,
    routed,
    smtp_client,
    stream_len,
    wait,
)

from deskgate.models.codec import decode  # noqa: E402
from deskgate.models.message import InboundMessage  # noqa: E402

HEALTHZ_P99_TARGET_MS = 100.0


class Run(NamedTuple):
    healthz_p50: float
    healthz_p99: float
    healthz_max: float
    probes: int
    loop_p99: float        # GET /api/v1/openapi.json: the event loop alone, no Redis
    hostile_sent: int
    hostile_250: int
    normal_sent: int
    normal_250: int
    degraded: int
    gateway_ms: float      # gateway CPU per message (hostile + normal), to accepted
    children_ms: float     # triage worker + Redis + parse processes CPU per message, to routed
    load_before: float
    load_after: float


def send_one(port: int, raw: bytes) -> bool:
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=120) as s:
            return s.sendmail("mallory@example.net", ["support@example.com"], raw) == {}
    except (smtplib.SMTPException, OSError):
        return False


def hostile_sender(port: int, rate: float, seconds: float, names: list[str],
                   out: multiprocessing.Queue) -> None:
    shapes = [SHAPES[name]() for name in names]
    # A unique first line per mail: the same bytes twice would be deduplicated, not parsed.
    start = time.perf_counter()
    futures = []
    with ThreadPoolExecutor(max_workers=64) as pool:
        i = 0
        while time.perf_counter() - start < seconds:
            raw = b"X-Bench: %d\r\n" % i + shapes[i % len(shapes)]
            futures.append(pool.submit(send_one, port, raw))
            i += 1
            time.sleep(max(0.0, start + i / rate - time.perf_counter()))
    out.put((len(futures), sum(f.result() for f in futures)))


def normal_sender(port: int, rate: float, seconds: float, run: int,
                  out: multiprocessing.Queue) -> None:
    start = time.perf_counter()
    ok = i = 0
    with smtplib.SMTP("127.0.0.1", port, timeout=120) as s:
        while time.perf_counter() - start < seconds:
            ok += s.sendmail("bench@example.net", ["support@example.com"],
                             message(f"hostile-run{run}", i)) == {}
            i += 1
            time.sleep(max(0.0, start + i / rate - time.perf_counter()))
    out.put((i, ok))


def probe(port: int, stop: threading.Event, latencies: list[float],
          path: str = "/healthz") -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    while not stop.is_set():
        t = time.perf_counter()
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        latencies.append((time.perf_counter() - t) * 1000)
        if resp.status != 200:
            raise SystemExit(f"{path} answered {resp.status}")
        stop.wait(0.02)
    conn.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def one_run(args: argparse.Namespace, run: int) -> Run:
    tmp = Path(tempfile.mkdtemp(prefix="deskgate-bench-hostile-"))
    serve = None
    try:
        smtp_port, http_port = free_port(), free_port()
        (tmp / "config.yaml").write_text(f"""redis_prefix: "{PREFIX}"
email:
  smtp: {{host: 127.0.0.1, port: {smtp_port}}}
  inboxes: [{{address: support@example.com, account: support, skill: general}}]
""")
        serve = subprocess.Popen(
            [sys.executable, "-m", "deskgate.gateway.cli.main", "serve", "--config",
             str(tmp / "config.yaml"), "--data-dir", str(tmp / "data"), "--port",
             str(http_port), "--workers", "1"],
            stdout=subprocess.DEVNULL, stderr=open(tmp / "serve.log", "wb"))
        wait(lambda: port_ready(smtp_port)() and port_ready(http_port)(), timeout=120)
        r = redis.Redis(unix_socket_path=str(tmp / "data" / "redis" / "redis.sock"))
        smtp_client(smtp_port, f"warmup{run}", list(range(30)))  # models load, group exists
        wait(lambda: routed(r), timeout=300)
        before = stream_len(r)
        load_before = os.getloadavg()[0]
        tree = ProcessTree(serve.pid)
        cpu0 = tree.cpu()
        stop, latencies, loop_latencies = threading.Event(), [], []
        probers = [threading.Thread(target=probe, args=(http_port, stop, latencies)),
                   threading.Thread(target=probe, args=(http_port, stop, loop_latencies,
                                                        "/api/v1/openapi.json"))]
        for prober in probers:
            prober.start()
        results: multiprocessing.Queue = multiprocessing.Queue()
        senders = [
            multiprocessing.Process(target=hostile_sender,
                                    args=(smtp_port, args.rate, args.seconds, args.shapes,
                                          results)),
            multiprocessing.Process(target=normal_sender,
                                    args=(smtp_port, args.normal_rate, args.seconds, run,
                                          results)),
        ]
        for p in senders:
            p.start()
        counts = [results.get(timeout=args.seconds + 600) for _ in senders]
        for p in senders:
            p.join()
        gateway_cpu = tree.cpu()["gateway"] - cpu0["gateway"]
        stop.set()
        for prober in probers:
            prober.join()
        # Hostile sender's figures are bigger when more hostile mail was sent; tell them apart
        # by which sender used the corpus: the normal one sends rate × seconds of them.
        (h_sent, h_ok), (n_sent, n_ok) = sorted(
            counts, key=lambda c: abs(c[0] - args.rate * args.seconds))
        accepted = stream_len(r) - before
        wait(lambda: routed(r), timeout=600)
        cpu1 = tree.cpu()
        child_cpu = sum(cpu1[role] - cpu0[role] for role in cpu1 if role != "gateway")
        degraded = sum(b"parse_error" in fields[b"m"] and
                       "parse_error" in decode(fields[b"m"], InboundMessage).meta
                       for _, fields in r.xrange(f"{PREFIX}ingest"))
        return Run(percentile(latencies, 0.5), percentile(latencies, 0.99), max(latencies),
                   len(latencies), percentile(loop_latencies, 0.99), h_sent, h_ok, n_sent, n_ok, degraded,
                   gateway_cpu * 1000 / max(accepted, 1), child_cpu * 1000 / max(accepted, 1),
                   load_before, os.getloadavg()[0])
    finally:
        if serve is not None:
            serve.terminate()
            serve.wait(60)
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="how long each run sends")
    ap.add_argument("--rate", type=float, default=10.0, help="hostile mails per second")
    ap.add_argument("--normal-rate", type=float, default=20.0,
                    help="normal corpus mails per second, over one connection")
    ap.add_argument("--runs", type=int, default=3, help="runs, each with a fresh serve")
    ap.add_argument("--without", action="append", default=[], metavar="SHAPE",
                    help="leave out a hostile shape (repeatable); shapes: " + "; ".join(SHAPES))
    args = ap.parse_args()
    args.shapes = [name for name in SHAPES if name not in args.without]
    if len(args.shapes) + len(args.without) != len(SHAPES):
        raise SystemExit(f"--without: unknown shape; known: {'; '.join(SHAPES)}")
    print(f"commit {commit()}, {os.cpu_count()} cores, {len(args.shapes)} hostile shapes at "
          f"{args.rate:g}/s + normal mail at {args.normal_rate:g}/s for {args.seconds:g} s")
    runs = []
    for i in range(args.runs):
        res = one_run(args, i)
        runs.append(res)
        print(f"run {i + 1}: /healthz p50 {res.healthz_p50:.1f} ms, p99 {res.healthz_p99:.1f} ms"
              f" (target < {HEALTHZ_P99_TARGET_MS:g}), max {res.healthz_max:.1f} ms, "
              f"{res.probes} probes; event loop alone (openapi.json) p99 {res.loop_p99:.1f} ms; "
              f"hostile 250 {res.hostile_250}/{res.hostile_sent}, normal "
              f"250 {res.normal_250}/{res.normal_sent}, degraded {res.degraded}; CPU ms/msg "
              f"gateway {res.gateway_ms:.2f}, children {res.children_ms:.2f}; load "
              f"{res.load_before:.2f} → {res.load_after:.2f}", flush=True)

    def summary(field: str, fmt: str = ".1f") -> str:
        values = [getattr(x, field) for x in runs]
        return (f"{statistics.median(values):{fmt}} ({min(values):{fmt}}–"
                f"{max(values):{fmt}})")

    p99 = statistics.median(x.healthz_p99 for x in runs)
    print(f"median (range) of {len(runs)} runs: /healthz p99 {summary('healthz_p99')} ms "
          f"{'ok' if p99 < HEALTHZ_P99_TARGET_MS else 'ABOVE TARGET'}, p50 "
          f"{summary('healthz_p50')} ms; openapi.json p99 {summary('loop_p99')} ms; gateway CPU {summary('gateway_ms', '.2f')} ms/msg, "
          f"children (worker, Redis, parsers) {summary('children_ms', '.2f')} ms/msg")
    lost = [x for x in runs if x.hostile_250 != x.hostile_sent or x.normal_250 != x.normal_sent]
    print("every mail got 250" if not lost else f"NOT every mail got 250 in {len(lost)} run(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
