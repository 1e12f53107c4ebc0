"""Counters and latency histograms that every process adds to in Redis, so that /metrics on
any gateway shows the whole installation (workers run in other processes)."""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Sequence

import redis.asyncio as aioredis

from deskgate.queue.keys import Keys
from deskgate.queue.replies import text_hash

# accepted -> stored and routed, in seconds
E2E_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0, 30.0)


def entry_time(entry_id: str) -> float:
    """The time Redis accepted a stream entry: the millisecond part of its id."""
    return int(entry_id.split("-", 1)[0]) / 1000.0


class SharedStats:
    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self._r = client
        self._k = keys

    async def record_batch(self, entry_ids: Sequence[str], outcomes: Sequence[str],
                           now: float) -> None:
        buckets: Counter[str] = Counter()
        total = 0.0
        for eid in entry_ids:
            latency = max(0.0, now - entry_time(eid))
            total += latency
            i = bisect.bisect_left(E2E_BUCKETS, latency)
            buckets[str(E2E_BUCKETS[i]) if i < len(E2E_BUCKETS) else "+Inf"] += 1
        async with self._r.pipeline(transaction=False) as pipe:
            for le, n in buckets.items():
                pipe.hincrby(self._k.metrics, f"e2e_bucket:{le}", n)
            pipe.hincrbyfloat(self._k.metrics, "e2e_sum", total)
            pipe.hincrby(self._k.metrics, "e2e_count", len(entry_ids))
            for outcome, n in Counter(outcomes).items():
                pipe.hincrby(self._k.metrics, f"applied:{outcome}", n)
            await pipe.execute()

    async def read(self) -> dict[str, float]:
        raw = await self._r.hgetall(self._k.metrics)
        return {k: float(v) for k, v in text_hash(raw).items()}
