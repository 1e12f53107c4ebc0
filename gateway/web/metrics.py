"""Prometheus metrics at /metrics, built with prometheus_client.

Two sources, one exposition:
- `Metrics`: counters of this process (messages accepted here, auth failures, mail rejected),
  created on first use; Prometheus sums them across gateways.
- `SharedCollector`: what lives in Redis and so covers the whole installation (queue depths,
  stream lag, the accepted→routed latency histogram, tickets applied, the model each worker
  runs). prometheus_client calls `collect()` synchronously, so the scrape first `read()`s Redis
  on the event loop and the collector then renders what it read; a new one is built per scrape.

Types follow the data: `_total` series are counters, the latency buckets a histogram, levels
(depth, lag, model version, redis up) gauges."""

from __future__ import annotations

from collections.abc import Iterator

import prometheus_client
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from redis.exceptions import RedisError

from deskgate.queue.classifier_registry import parse_running
from deskgate.queue.keys import Keys
from deskgate.queue.stats import E2E_BUCKETS, SharedStats
from deskgate.queue.stream import IngestReader
from deskgate.queue.work import Work

# the text format generate_latest writes, which every Prometheus version reads
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# `<name>_created` timestamps per label set would double the exposition and tell nothing a
# restart counter does not: left out, process-wide (prometheus_client has no per-counter switch).
prometheus_client.disable_created_metrics()

_HELP: dict[str, str] = {}


def describe(name: str, help_text: str) -> None:
    _HELP[name] = help_text


def _help(name: str) -> str:
    return _HELP.get(name, name.replace("_", " "))


describe("deskgate_queue_depth", "Open tickets waiting in a skill queue")
describe("deskgate_ingest_lag", "Ingest stream entries not yet triaged and acknowledged")
describe("deskgate_messages_accepted_total", "Messages durably accepted, by channel")
describe("deskgate_e2e_seconds", "Time from a message's acceptance to its ticket being routed")
describe("deskgate_tickets_applied_total", "Triaged messages applied to tickets, by outcome")
describe("deskgate_model_version", "1 for the model version each triage worker runs")
describe("deskgate_redis_up", "1 when this gateway could read Redis for this scrape, else 0")


class Metrics(Collector):
    """This process's counters, by name and labels (a name keeps the label names it was first
    counted with)."""

    def __init__(self) -> None:
        self._counters: dict[str, Counter] = {}

    def inc(self, name: str, amount: float = 1, **labels: str) -> None:
        counter = self._counters.get(name)
        if counter is None:
            counter = self._counters[name] = Counter(name, _help(name), sorted(labels),
                                                     registry=None)
        (counter.labels(**labels) if labels else counter).inc(amount)

    def value(self, name: str, **labels: str) -> float:
        for family in self.collect():
            for sample in family.samples:
                if sample.name == name and sample.labels == labels:
                    return sample.value
        return 0.0

    def collect(self) -> Iterator[Metric]:
        for counter in self._counters.values():
            yield from counter.collect()


class _Refusing(Collector):
    def __init__(self, refusing: bool) -> None:
        self._value = float(refusing)

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("deskgate_persistence_refusing",
                                _help("deskgate_persistence_refusing"), value=self._value)


class SharedCollector(Collector):
    """The installation-wide series, as read from Redis by the last `read()`."""

    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self._r = client
        self._k = keys
        self._families: list[Metric] = []

    async def read(self, now: float) -> None:
        try:
            families = [await self._depths(), await self._lag(), *await self._shared(),
                        await self._models(now)]
        except (RedisError, OSError):
            families = []
        up = GaugeMetricFamily("deskgate_redis_up", _help("deskgate_redis_up"),
                               value=1.0 if families else 0.0)
        self._families = [*families, up]

    def collect(self) -> Iterator[Metric]:
        yield from self._families

    async def _depths(self) -> Metric:
        g = GaugeMetricFamily("deskgate_queue_depth", _help("deskgate_queue_depth"),
                              labels=["skill"])
        for skill, n in sorted((await Work(self._r, self._k).queue_depths()).items()):
            g.add_metric([skill], n)
        return g

    async def _lag(self) -> Metric:
        return GaugeMetricFamily("deskgate_ingest_lag", _help("deskgate_ingest_lag"),
                                 value=await IngestReader(self._r, self._k, "-").lag())

    async def _shared(self) -> list[Metric]:
        stats = await SharedStats(self._r, self._k).read()
        buckets: list[tuple[str, float]] = []
        cumulative = 0.0
        for le in [*map(str, E2E_BUCKETS), "+Inf"]:
            cumulative += stats.get(f"e2e_bucket:{le}", 0.0)
            buckets.append((le, cumulative))
        e2e = HistogramMetricFamily("deskgate_e2e_seconds", _help("deskgate_e2e_seconds"),
                                    buckets=buckets, sum_value=stats.get("e2e_sum", 0.0))
        applied = CounterMetricFamily("deskgate_tickets_applied_total",
                                      _help("deskgate_tickets_applied_total"),
                                      labels=["outcome"])
        for key, n in sorted(stats.items()):
            if key.startswith("applied:"):
                applied.add_metric([key.split(":", 1)[1]], n)
        return [e2e, applied]

    async def _models(self, now: float) -> Metric:
        g = GaugeMetricFamily("deskgate_model_version", _help("deskgate_model_version"),
                              labels=["task", "version", "worker"])
        running = parse_running(await self._r.hgetall(self._k.models_running), now)
        for worker, info in sorted(running.items()):
            for task, version in sorted(info["versions"].items()):
                g.add_metric([task, version, worker], 1.0)
        return g


async def exposition(process: Metrics, client: aioredis.Redis, keys: Keys, now: float, *,
                     refusing: bool = False) -> bytes:
    """The /metrics body: this process's counters and the installation's series from Redis.
    `refusing`: this gateway refuses intake now (persistence failing or the disk low)."""
    shared = SharedCollector(client, keys)
    await shared.read(now)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(process)
    registry.register(shared)
    registry.register(_Refusing(refusing))
    return generate_latest(registry)
