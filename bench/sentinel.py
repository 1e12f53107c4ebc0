"""Sentinel failover benchmark: how many acknowledged messages a master's failure loses, per
durability mode (not a test: the test, tests/spine/test_sentinel.py, asserts 0 for `replica`).

Each run: a fresh Sentinel group (queue/sentinel_group.py: master + one replica + three
sentinels, Debian's redis-server 7, AOF everysec, down-after-milliseconds 1000) and a fresh
`deskgate serve --workers 0` reaching it through redis+sentinel://; --senders clients post
distinct API messages as fast as they are answered (a 503 or a refused connection: wait 0.2 s,
post the same message again, as a provider does). After --before seconds the master fails:

  kill       SIGKILL of the master process; once the sentinels have promoted the replica, the
             dead master is started again as the new master's replica
  partition  the master is cut off from the sentinels and the replica (their ACL users
             switched off), while the gateway still reaches it; --heal-after seconds after the
             failover the cut is healed and the sentinels demote the old master

and the load runs --after seconds past the next acknowledgements. Lost = acknowledged (2xx)
messages the new master's ingest stream does not hold. Scenarios are `mode/failure`;
`everysec+min-replicas` also sets min-replicas-to-write 1, min-replicas-max-lag 2 on the Redis.

Prints the commit, the load average before and after, median and range of --runs runs per
scenario, and CPU ms per acknowledged message of the gateway and of the surviving Redis (the
promoted replica: a killed master's CPU dies with it).
Run: make bench-sentinel  (or: .venv/bin/python bench/sentinel.py --runs 3)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import aiohttp
from harness import CLI, commit, cpu_seconds, free_port  # bench/ is sys.path[0]

from deskgate.gateway.config import DEFAULT_CONFIG
from deskgate.queue.keys import Keys
from deskgate.queue.sentinel_group import SentinelGroup

# durability mode [+ min-replicas-to-write 1 on the Redis] / how the master fails
SCENARIOS = ("everysec/kill", "replica/kill", "everysec/partition",
             "everysec+min-replicas/partition", "replica/partition")


async def one_run(scenario: str, args: argparse.Namespace) -> dict[str, float]:
    mode, failure = scenario.split("/")
    mode, _, min_replicas = mode.partition("+")
    with tempfile.TemporaryDirectory(prefix="dg-sentinel-") as tmp, \
            SentinelGroup(Path(tmp) / "sentinel") as group:
        if min_replicas:  # Redis refuses writes once no replica has acknowledged for 2 s
            for port in group.nodes:
                with group.client(port) as c:
                    c.config_set("min-replicas-to-write", 1)
                    c.config_set("min-replicas-max-lag", 2)
        cfg = Path(tmp) / "deskgate.yaml"
        cfg.write_text(DEFAULT_CONFIG.read_text(encoding="utf-8")
                       .replace('redis_url: ""', f'redis_url: "{group.url}"')
                       .replace("mode: everysec", f"mode: {mode}"), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if k != "DESKGATE_REDIS_URL"}
        common = ["--config", str(cfg), "--data-dir", str(Path(tmp) / "data")]
        port = free_port()
        serve = subprocess.Popen([*CLI, "serve", "--port", str(port), "--workers", "0",
                                  "--job-workers", "0", "--no-smtp", *common], env=env,
                                 stderr=(Path(tmp) / "serve.log").open("w"))
        try:
            token = subprocess.run([*CLI, "token", "create", "--role", "integration", *common],
                                   env=env, capture_output=True, text=True, timeout=60,
                                   check=True).stdout.strip()
            return await _load(mode, failure, group, serve, f"http://127.0.0.1:{port}", token,
                               args)
        finally:
            serve.terminate()
            serve.wait(60)


def _demoted(group: SentinelGroup, port: int, timeout: float = 120) -> None:
    """Until the healed old master has been made a replica and has synced."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with group.client(port) as c:
            info = c.info("replication")
        if info.get("role") == "slave" and info.get("master_link_status") == "up":
            return
        time.sleep(0.1)
    raise SystemExit("the old master was not made a replica")


async def _load(mode: str, failure: str, group: SentinelGroup,
                serve: subprocess.Popen[bytes], base: str, token: str,
                args: argparse.Namespace) -> dict[str, float]:
    acked: list[tuple[float, str]] = []
    refused = 0
    stop = asyncio.Event()
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:
        deadline = time.monotonic() + 90
        while True:
            try:
                async with http.get(f"{base}/healthz") as resp:
                    if resp.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            if serve.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"serve did not come up ({mode})")
            await asyncio.sleep(0.1)

        async def sender(n: int) -> None:
            nonlocal refused
            i = 0
            while not stop.is_set():
                body = {"external_id": f"b{n}-{i}", "sender": {"email": f"u{n}@example.com"},
                        "text": f"message {i} from {n}: where is my parcel?"}
                try:
                    async with http.post(f"{base}/api/v1/messages", json=body,
                                         headers=headers) as resp:
                        if resp.status in (200, 202):
                            acked.append((time.monotonic(), (await resp.json())["id"]))
                            i += 1
                            continue
                except aiohttp.ClientError:
                    pass
                refused += 1
                await asyncio.sleep(0.2)

        gateway_cpu0 = cpu_seconds(serve.pid) * 1000
        replica_port = group.nodes[1]
        replica_cpu0 = cpu_seconds(group.procs[replica_port].pid) * 1000
        tasks = [asyncio.create_task(sender(n)) for n in range(args.senders)]
        await asyncio.sleep(args.before)
        before = len(acked)
        if failure == "kill":
            old = await asyncio.to_thread(group.kill_master)
            new = await asyncio.to_thread(group.wait_for_failover, old)
            await asyncio.to_thread(group.restart, old)
        else:
            old = await asyncio.to_thread(group.master_port)
            await asyncio.to_thread(group.partition, old)
            new = await asyncio.to_thread(group.wait_for_failover, old)
            await asyncio.sleep(args.heal_after)
            await asyncio.to_thread(group.heal, old)
            await asyncio.to_thread(_demoted, group, old)
        accepted = len(acked)  # answers in flight at the kill may still arrive: wait for more
        while len(acked) < accepted + args.senders:
            await asyncio.sleep(0.05)
        await asyncio.sleep(args.after)
        stop.set()
        await asyncio.gather(*tasks)
        gateway_cpu = cpu_seconds(serve.pid) * 1000 - gateway_cpu0
        replica_cpu = cpu_seconds(group.procs[replica_port].pid) * 1000 - replica_cpu0

    master = group.client(new)
    ids = {f[b"id"].decode() for _, f in master.xrange(Keys().ingest)}
    master.close()
    lost = [mid for _, mid in acked if mid not in ids]
    times = [t for t, _ in acked]
    # what the senders saw of the failover: the longest time without any acknowledgement
    gap = max(b - a for a, b in zip(times, times[1:], strict=False))
    return {"acked": len(acked), "acked_per_s_before_failure": before / args.before,
            "lost": len(lost), "refused_and_retried": refused, "longest_gap_s": gap,
            "gateway_cpu_ms_per_msg": gateway_cpu / len(acked),
            "promoted_redis_cpu_ms_per_msg": replica_cpu / len(acked)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="runs per mode (median and range)")
    ap.add_argument("--senders", type=int, default=16, help="concurrent posting clients")
    ap.add_argument("--before", type=float, default=5.0, help="seconds of load before the kill")
    ap.add_argument("--after", type=float, default=3.0,
                    help="seconds of load after the first acknowledgement on the new master")
    ap.add_argument("--heal-after", type=float, default=2.0,
                    help="partition: seconds after the failover before the old master is "
                         "reachable again (the sentinels then demote it, after 8 s)")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS),
                    help="comma-separated mode/failure pairs")
    args = ap.parse_args()
    load_before = Path("/proc/loadavg").read_text().strip()
    results: dict[str, list[dict[str, float]]] = {}
    for run in range(args.runs):  # interleaved, so load drifts hit every mode alike
        for scenario in args.scenarios.split(","):
            results.setdefault(scenario, []).append(asyncio.run(one_run(scenario, args)))
            print(f"run {run + 1} {scenario}: {results[scenario][-1]}", flush=True)
    load_after = Path("/proc/loadavg").read_text().strip()
    print(f"\ncommit {commit()}; {os.cpu_count()} cores; load average before: {load_before}; "
          f"after: {load_after}")
    print(f"{args.runs} runs per scenario; {args.senders} senders; the master fails after "
          f"{args.before:.0f} s; Sentinel down-after-milliseconds 1000")
    print(f"{'scenario':<32} {'figure':<30} {'median':>9}  {'range':>19}")
    for scenario, runs in results.items():
        for key in runs[0]:
            values = [r[key] for r in runs]
            print(f"{scenario:<32} {key:<30} {statistics.median(values):>9.3f}  "
                  f"[{min(values):>8.3f}, {max(values):>8.3f}]")
    print("target: lost = 0 with durability replica (acknowledged only once a replica has it)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
