"""What the duplicate check costs in Redis memory, per million messages (not a test).

On a real redis-server (Debian's 7 when installed, else the embedded one), --messages short API
messages go through the real ingest (queue/ingest.py, batches of 500). Then, measured by
used_memory before and after deleting them (so the main and the expiry dictionaries count):
  marker_ttl_b    one idempotency marker `seen:<id>` with its TTL - what every message cost for
                  30 days before (a provider retry after that was ingested again)
  marker_kept_b   one marker without TTL - what a noise message (bounce, auto-reply, receipt)
                  now keeps for good
  index_b         one message index `msg:<id>` (ticket + the message JSON) - what every applied
                  message already keeps for good, and which now also answers the duplicate
                  check, so an applied message keeps no marker at all
Also MEMORY USAGE of a sample of each. Prints the commit, the load average, median and range of
--runs runs, and the Redis CPU ms per message of the ingest.
Run: make bench-dedupe-memory  (or: .venv/bin/python bench/dedupe_memory.py --messages 100000)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import redis
import redis.asyncio as aioredis
from harness import commit, cpu_seconds  # bench/ is sys.path[0]

from deskgate.models.codec import encode
from deskgate.models.enums import Channel, IdentityKind
from deskgate.models.message import Identity, InboundMessage, Sender
from deskgate.queue.ingest import Ingest
from deskgate.queue.keys import Keys
from deskgate.queue.redis_server import EmbeddedRedis
from deskgate.queue.sentinel_group import redis7_binary

BATCH = 500


def message(i: int) -> InboundMessage:
    return InboundMessage(
        channel=Channel.API, account="shop", external_id=f"order-{i:09d}",
        sender=Sender((Identity(IdentityKind.EMAIL, f"u{i % 5000}@example.com"),)),
        received_at=datetime.now(UTC), text=f"我的订单 DD{i:012d} 还没发货，什么时候能到？")


def used(r: redis.Redis) -> int:
    return int(r.info("memory")["used_memory"])


def freed_per_key(r: redis.Redis, keys: list[str]) -> float:
    """Bytes each key holds, as deleting them frees it (main + expiry dict included)."""
    before = used(r)
    for i in range(0, len(keys), BATCH):
        r.delete(*keys[i:i + BATCH])
    return (before - used(r)) / len(keys)


def sample_usage(r: redis.Redis, keys: list[str]) -> float:
    pipe = r.pipeline(transaction=False)
    for k in keys[:1000]:
        pipe.memory_usage(k, samples=0)
    return statistics.mean(int(x) for x in pipe.execute())


async def ingest_all(url: str, k: Keys, messages: list[InboundMessage]) -> None:
    client = aioredis.Redis.from_url(url)
    ingest = Ingest(client, k)
    for i in range(0, len(messages), BATCH):
        await ingest.accept_many(messages[i:i + BATCH])
    await client.aclose()


def one_run(n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="dg-dedupe-") as tmp, \
            EmbeddedRedis(Path(tmp)) as server:
        r = redis.Redis(unix_socket_path=str(server.socket_path))
        k = Keys("bench:")
        messages = [message(i) for i in range(n)]
        pid = int((server.redis_dir / "redis.pid").read_text())
        cpu0 = cpu_seconds(pid) * 1000
        asyncio.run(ingest_all(server.url, k, messages))
        ingest_cpu = (cpu_seconds(pid) * 1000 - cpu0) / n
        seen = [k.seen(m.id) for m in messages]
        assert r.ttl(seen[0]) > 0 and r.exists(*seen[:BATCH]) == BATCH
        ttl_sample = sample_usage(r, seen)
        half = n // 2  # half measured with their TTL, half kept without one (noise)
        marker_ttl = freed_per_key(r, seen[:half])
        pipe = r.pipeline(transaction=False)
        for key in seen[half:]:
            pipe.persist(key)
        pipe.execute()
        marker_kept = freed_per_key(r, seen[half:])
        index_keys = [k.msg(m.id) for m in messages]
        for i in range(0, n, BATCH):
            pipe = r.pipeline(transaction=False)
            for m, key in zip(messages[i:i + BATCH], index_keys[i:i + BATCH], strict=True):
                pipe.hset(key, mapping={"ticket": f"DG-{i}", "json": encode(m)})
            pipe.execute()
        index_sample = sample_usage(r, index_keys)
        index = freed_per_key(r, index_keys)
        version = r.info("server")["redis_version"]
        r.close()
    print(f"  redis {version}: marker {marker_ttl:.0f} B with TTL, {marker_kept:.0f} B kept; "
          f"index {index:.0f} B", flush=True)
    return {"marker_ttl_b": marker_ttl, "marker_kept_b": marker_kept, "index_b": index,
            "marker_memory_usage_b": ttl_sample, "index_memory_usage_b": index_sample,
            "redis_ingest_cpu_ms_per_msg": ingest_cpu}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    binary = redis7_binary()
    if binary:
        os.environ["DESKGATE_REDIS_SERVER"] = binary
    load_before = Path("/proc/loadavg").read_text().strip()
    runs = [one_run(args.messages) for _ in range(args.runs)]
    load_after = Path("/proc/loadavg").read_text().strip()
    print(f"\ncommit {commit()}; load average before: {load_before}; after: {load_after}")
    print(f"{args.runs} runs of {args.messages} messages")
    print(f"{'figure':<30} {'median':>9}  {'range':>19}  {'per million messages':>22}")
    for key in runs[0]:
        values = [r[key] for r in runs]
        med = statistics.median(values)
        per_million = f"{med * 1e6 / 2**20:.1f} MiB" if key.endswith("_b") else ""
        print(f"{key:<30} {med:>9.3f}  [{min(values):>8.3f}, {max(values):>8.3f}]  "
              f"{per_million:>22}")
    print("before: every message kept a marker for 30 days (marker_ttl_b per message accepted "
          "in the last 30 days), and a retry after that was ingested again;\nnow: a marker "
          "lives only until its message is applied (markers of the backlog), applied messages "
          "answer from the index they already keep (0 B more), noise keeps marker_kept_b "
          "for good.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
