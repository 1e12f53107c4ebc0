"""Ingest benchmark: starts its own `deskgate serve` (embedded Redis, private data dir, the
triage worker(s) running), loads `POST /api/v1/messages` with wrk over loopback (bench/load.py:
unique bodies, Chinese and English short messages) and reports, per run:

  phase 1  accepted msgs/s with the triage worker running (wrk closed-loop, --concurrency
           connections) and wrk's ack latency p50/p99
           end-to-end msgs/s: the same messages from the first post until the triage group
           has acknowledged every entry (the backlog drained)
           CPU ms per message per role over that span (gateway, worker, redis, retraining; tree =
           their sum: the whole serve tree's cost of one short message end to end), and wrk's
           own (loadgen)
  phase 2  at --rate msgs/s offered (wrk open-loop, bench/load.py): the rate achieved, ack
           latency p99 (wrk) and end-to-end latency p50/p99 (the workers' shared histogram,
           accepted → routed into a skill queue)
  peak memory per role and of the serve tree (sum over its processes) over the whole run: PSS
           (the target's figure: a page shared by two processes counts once), USS and RSS

Each run uses a fresh serve; --runs runs give the median and range (bench/harness.py).
Run: make bench-ingest   (or: .venv/bin/python bench/ingest.py --seconds 10 --workers 1)
Bounded: every phase stops after --seconds; only 127.0.0.1 and a unix socket are contacted.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import harness
import load
import redis
from harness import CpuMeter, ProcessTree, Report, RssSampler

from deskgate.queue.keys import Keys


def e2e_histogram(base: str) -> dict[str, float]:
    """The deskgate_e2e_seconds buckets and count from /metrics."""
    with urllib.request.urlopen(base + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
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
        return math.nan
    rank, prev_b, prev_c = q * total, 0.0, 0.0
    for b in bounds:
        c = after[str(b)] - before.get(str(b), 0)
        if c >= rank:
            return prev_b + (b - prev_b) * ((rank - prev_c) / max(c - prev_c, 1e-9))
        prev_b, prev_c = b, c
    return math.inf


def wait_routed(r: redis.Redis, stream: str, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while not harness.routed(r, stream):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the workers did not drain the backlog within {timeout:.0f} s")
        time.sleep(0.02)
    return time.perf_counter()


def serve_args(args: argparse.Namespace, port: int) -> list[str]:
    return ["--port", str(port), "--workers", str(args.workers), "--no-smtp"]


def one_run(args: argparse.Namespace, run: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="dg-bench-ingest-") as tmp:
        data, port = Path(tmp) / "data", harness.free_port()
        with harness.serve(data, serve_args(args, port), ready=harness.http_ready(port)) as proc:
            return measure(args, f"r{run}", proc.pid, data, port)


def measure(args: argparse.Namespace, tag: str, serve_pid: int, data: Path, port: int,
            rate_phase: bool = True) -> dict[str, float]:
    """The phases against a running serve (bench/scale.py reuses it for N gateways, without
    the rate phase)."""
    base = f"http://127.0.0.1:{port}"
    token = harness.token(data)
    r = redis.Redis(unix_socket_path=str(data / "redis" / "redis.sock"), decode_responses=True)
    stream = Keys().ingest  # serve's default prefix
    tree = ProcessTree(serve_pid)
    fig: dict[str, float] = {}
    with RssSampler(tree) as rss:
        # warm-up: token cache, script load, the workers' models, the consumer group
        load.post_messages(base, token, 1, args.concurrency, f"{tag}warm")
        if args.workers:
            wait_routed(r, stream, 300)

        meter = CpuMeter(tree)
        t0 = time.perf_counter()
        p1 = load.post_messages(base, token, args.seconds, args.concurrency, f"{tag}p1",
                                threads=args.wrk_threads)
        meter.add_loadgen(p1.cpu_seconds)
        fig["accepted_per_s"] = p1.per_s
        fig["rejected"] = p1.non_2xx
        fig["wrk socket errors"] = p1.socket_errors
        fig["ack_p50_ms"], fig["ack_p99_ms"] = p1.p50_ms, p1.p99_ms
        if args.workers:
            done = wait_routed(r, stream, 600)
            fig["e2e_per_s"] = p1.requests / (done - t0)
        fig.update(meter.per_message(p1.requests))

        if args.workers and rate_phase:
            h1 = e2e_histogram(base)
            p2 = load.post_messages(base, token, args.seconds, args.rate_connections,
                                    f"{tag}p2", rate=args.rate, threads=args.wrk_threads)
            wait_routed(r, stream, 120)
            h2 = e2e_histogram(base)
            fig["offered_per_s"] = p2.per_s
            fig["rejected"] += p2.non_2xx
            fig["wrk socket errors"] += p2.socket_errors
            fig["ack_p99_ms_at_rate"] = p2.p99_ms
            fig["e2e_p50_s_at_rate"] = hist_quantile(h1, h2, 0.5)
            fig["e2e_p99_s_at_rate"] = hist_quantile(h1, h2, 0.99)
    r.close()
    fig.update(rss.figures())
    return fig


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    ap.add_argument("--workers", type=int, default=1,
                    help="triage worker processes (0: the gateway alone, phase 1 only)")
    ap.add_argument("--concurrency", type=int, default=64, help="wrk connections in phase 1")
    ap.add_argument("--rate", type=float, default=1000.0, help="msgs/s offered in phase 2")
    ap.add_argument("--rate-connections", type=int, default=200,
                    help="wrk connections in phase 2 (enough that one is free at each slot)")
    ap.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (one is ample)")
    harness.add_arguments(ap)


def label(report: Report, rate: float) -> None:
    report.target("accepted_per_s", ">=", 4000, "accepted msgs/s (phase 1, worker running)")
    report.label("ack_p50_ms", "  ack latency p50 ms (wrk)")
    report.label("ack_p99_ms", "  ack latency p99 ms (wrk)")
    report.target("e2e_per_s", ">=", 1500, "end-to-end msgs/s (phase 1 backlog drained)")
    report.target("cpu_ms_per_msg tree", "<=", 0.6,
                  "CPU ms/msg serve tree, short message end to end")
    report.label("offered_per_s", f"offered msgs/s achieved (phase 2, {rate:g}/s asked)")
    report.label("ack_p99_ms_at_rate", "  ack latency p99 ms at that rate (wrk)")
    report.label("e2e_p50_s_at_rate", "  e2e latency p50 s at that rate")
    report.target("e2e_p99_s_at_rate", "<", 1.0, "  e2e latency p99 s at that rate")
    report.target("pss_mb tree", "<", 400, "peak PSS MB serve tree (sum: shared pages once)")
    report.label("rss_mb tree", "  peak RSS MB serve tree (sum: shared pages counted twice)")
    report.target("rejected", "<=", 0, "requests answered non-2xx (503: retry)")
    report.label("wrk socket errors", "requests wrk gave up on (timeouts at 2 s, errors)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    add_arguments(ap)
    args = ap.parse_args()
    load.require_wrk()
    report = Report("ingest", args, notes=[
        f"{args.workers} triage worker(s); wrk -c{args.concurrency} (phase 1), open-loop "
        f"{args.rate:g}/s over {args.rate_connections} connections (phase 2), {args.seconds:g} s "
        "each. CPU ms/msg: phase 1 from the first post until drained, per role; loadgen is wrk."])
    for run in range(args.runs):
        report.add_run(one_run(args, run))
    label(report, args.rate)
    return report.finish()


if __name__ == "__main__":
    sys.exit(main())
