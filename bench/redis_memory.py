"""Where Redis's memory goes per short API message: starts its own `deskgate serve` (embedded
Redis, one triage worker), posts --seconds of unique short messages at --rate (wrk open-loop,
bench/load.py; each message its own ticket), waits until every one is routed, then reports
`used_memory` added per message and MEMORY USAGE per key family (each family's keys, or a
sample of 200 of them, scaled to all), in bytes per message. Run: make bench-redis-memory
(or .venv/bin/python bench/redis_memory.py --seconds 8 --rate 1000 --runs 3)
Bounded: only 127.0.0.1 and a unix socket are contacted.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import harness
import load
import redis
from harness import Report

from deskgate.queue.keys import Keys

SAMPLE = 200
# key name -> family: ticket ids, message ids, customer ids and thread keys become placeholders
_FAMILY = [(re.compile(r"DG-\d+"), "{ticket}"), (re.compile(r":m_[0-9a-f]{16,}"), ":{message}"),
           (re.compile(r"cust:\d+"), "cust:{customer}"),
           (re.compile(r"(thread|custchan):.*"), r"\1:{…}")]


def family(key: str) -> str:
    for pattern, repl in _FAMILY:
        key = pattern.sub(repl, key)
    return key


def one_run(args: argparse.Namespace, run: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="dg-bench-redis-memory-") as tmp:
        data, port = Path(tmp) / "data", harness.free_port()
        argv = ["--port", str(port), "--workers", "1", "--no-smtp"]
        with harness.serve(data, argv, ready=harness.http_ready(port)):
            base = f"http://127.0.0.1:{port}"
            token = harness.token(data)
            r = redis.Redis(unix_socket_path=str(data / "redis" / "redis.sock"),
                            decode_responses=True)
            load.post_messages(base, token, 1, 4, f"r{run}warm")
            while not harness.routed(r, Keys().ingest):
                time.sleep(0.1)
            before = int(r.info("memory")["used_memory"])
            n = load.post_messages(base, token, args.seconds, 64, f"r{run}", rate=args.rate).requests
            while not harness.routed(r, Keys().ingest):
                time.sleep(0.1)
            fig = {"used_memory B/msg": (int(r.info("memory")["used_memory"]) - before) / n,
                   "messages": float(n)}
            held = int(r.xlen(Keys().ingest))   # every message in Redis, the warm-up's too
            keys: dict[str, list[str]] = defaultdict(list)
            for key in r.scan_iter(count=1000):
                keys[family(key)].append(key)
            for fam, members in keys.items():
                sample = members[:SAMPLE]
                used = sum(r.memory_usage(k, samples=0) or 0 for k in sample)
                share = used * len(members) / len(sample) / held
                if share >= 20:
                    fig[f"{fam} B/msg"] = share
            r.close()
            return fig


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=8.0, help="how long messages are posted")
    ap.add_argument("--rate", type=float, default=1000.0, help="msgs/s offered")
    harness.add_arguments(ap)
    args = ap.parse_args()
    load.require_wrk()
    report = Report("redis_memory", args, notes=[
        "bytes per short API message (each its own ticket), after every message is routed; "
        "acknowledged ingest entries are still in the stream (trimmed after "
        "workers.keep_acked_seconds)."])
    for run in range(args.runs):
        report.add_run(one_run(args, run))
    return report.finish()


if __name__ == "__main__":
    sys.exit(main())
