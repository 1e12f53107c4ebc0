"""The triage worker: reads the ingest stream in batches as a consumer group, resolves
customers, triages, routes, stores, and only then acknowledges.

A crash at any point before XACK leaves the entries pending; another worker takes them over
(XAUTOCLAIM) and replays them, and the store scripts make a replay a no-op. Routing and the
work side's periodic tick (leases, SLA clocks, push assignment, notifications) are
gateway/workers/work_loop.py's; each worker runs that tick beside its batches."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

import redis.asyncio as aioredis
from aiohttp import web
from redis.exceptions import RedisError

from deskgate.gateway.appkeys import CONFIG, DATA_DIR, KEYS
from deskgate.gateway.config import Config
from deskgate.gateway.workers import auto_answer, classifier_watch
from deskgate.gateway.workers.auto_ack import AutoAck
from deskgate.gateway.workers.work_loop import WorkLoop
from deskgate.models.enums import MessageKind
from deskgate.models.scoring import queue_score
from deskgate.models.triage import TriageInput
from deskgate.queue import connection
from deskgate.queue.auto_answers import AutoAnswerStore
from deskgate.queue.connection import raise_if_cancelled
from deskgate.queue.keys import Keys
from deskgate.queue.outbox import Outbox
from deskgate.queue.stats import SharedStats
from deskgate.queue.stream import Entry, IngestReader
from deskgate.queue.tickets import Placement, TicketStore

if TYPE_CHECKING:
    from deskgate.triage.engine import Triager

log = logging.getLogger("deskgate.worker")

AUTOCLAIM_EVERY_SECONDS = 5.0      # also how often acknowledged entries are trimmed


WORKER_SLOT_ENV = "DESKGATE_WORKER_SLOT"


def consumer_name(index: int = 0) -> str:
    """Our name in the consumer group: the slot `serve` gave this process (stable across
    restarts of the slot), else host and pid."""
    slot = os.environ.get(WORKER_SLOT_ENV) or f"{socket.gethostname()}:{os.getpid()}"
    return f"{slot}:{index}"


class TriageWorker:
    def __init__(self, client: aioredis.Redis, keys: Keys, config: Config,
                 triager: Callable[[], Triager], consumer: str) -> None:
        self._config = config
        self._triager = triager
        self.reader = IngestReader(client, keys, consumer)
        self.store = TicketStore(client, keys)
        self.outbox = Outbox(client, keys)
        self.acks = AutoAck(client, keys, config)
        self.auto_answers = AutoAnswerStore(client, keys)
        self.ops = WorkLoop(client, keys, config, consumer)
        self.stats = SharedStats(client, keys)
        self.processed = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set; a batch in progress is finished first."""
        cfg = self._config.workers
        await self.reader.ensure_group()
        backlog = await self.reader.own_pending(cfg.batch)
        next_claim = 0.0
        ops = asyncio.create_task(self.ops.run(stop))
        log.info("worker %s reading %s", self.reader.consumer, "the ingest stream")
        while not stop.is_set():
            try:
                entries, backlog = backlog or await self._read_batch(), []
                now = time.monotonic()
                if now >= next_claim:
                    next_claim = now + AUTOCLAIM_EVERY_SECONDS
                    stale = await self.reader.claim_stale(cfg.claim_idle_ms, cfg.batch)
                    if stale:
                        log.warning("took over %d entries left pending by another worker",
                                    len(stale))
                    entries += stale
                    await self.reader.trim_acknowledged(cfg.keep_acked_seconds * 1000,
                                                        int(time.time() * 1000))
                if entries:
                    await self.process(entries)
            except (RedisError, OSError) as exc:
                raise_if_cancelled(exc)
                log.error("Redis unavailable (%s); retrying in 1 s", exc)
                await asyncio.sleep(1.0)
        await ops

    async def _read_batch(self) -> list[Entry]:
        cfg = self._config.workers
        entries = await self.reader.read(cfg.batch, cfg.block_ms)
        if 0 < len(entries) < cfg.batch and cfg.linger_ms:
            # A trickle (SMTP delivers one message at a time) would be processed one entry per
            # batch at several times a batch's cost per message; waiting a few milliseconds
            # for company keeps the worker ahead of the load.
            await asyncio.sleep(cfg.linger_ms / 1000)
            entries += await self.reader.read(cfg.batch - len(entries), None)
        return entries

    async def process(self, entries: list[Entry]) -> None:
        now = time.time()
        done: list[str] = []
        messages: list[Entry] = []
        for e in entries:
            if e.message is None:
                await self.reader.dead_letter(e, "undecodable message")
            elif e.message.kind is not MessageKind.MESSAGE:
                await self.store.record_noise(e.message)
                await self.outbox.record_status(e.message, now)   # our replies' delivery
                done.append(e.entry_id)
            else:
                messages.append(e)
        if messages:
            msgs = [e.message for e in messages if e.message is not None]
            customers = await self.store.resolve_customers(msgs, now)
            # a bare score typed back to a survey answers it instead of reopening the ticket
            taken = await self.ops.surveys.take_answers(
                msgs, [c.customer_id for c in customers], now)
            kept = [e.entry_id for e, t in zip(messages, taken, strict=True) if not t]
            msgs = [m for m, t in zip(msgs, taken, strict=True) if not t]
            customers = [c for c, t in zip(customers, taken, strict=True) if not t]
            if msgs:
                inputs = [TriageInput(text=m.text, subject=m.subject, channel=m.channel,
                                      account=m.account, customer_tier=c.tier,
                                      recent_contacts=c.recent_tickets)
                          for m, c in zip(msgs, customers, strict=True)]
                triages = await asyncio.to_thread(self._triager().triage, inputs)
                routes = await self.ops.route(
                    [(m, t, c.tier) for m, c, t in zip(msgs, customers, triages, strict=True)], now)
                placements = [
                    Placement(message=m, customer_id=c.customer_id, triage=t, skill=r.queue,
                              queue_score=queue_score(now, t.priority, c.tier))
                    for m, c, t, r in zip(msgs, customers, triages, routes, strict=True)]
                applied = await self.store.apply(placements, now)
                await self.ops.placed(applied, routes, now)
                await self.acks.after_placed(applied, msgs, now)
                await auto_answer.feed(self.auto_answers, applied, msgs, triages)
                await self.stats.record_batch(kept, [a.outcome for a in applied], time.time())
            done += [e.entry_id for e in messages]
        await self.reader.ack(done)
        self.processed += len(entries)


def load_triager() -> Triager:
    # Imported here, not at the top: spaCy, jieba and the models cost ~150 MB and a second of
    # start-up, which a gateway-only process (`serve --workers 0`, or serve's HTTP process,
    # whose workers are child processes) must not pay.
    from deskgate.triage.engine import Triager

    started = time.perf_counter()
    triager = Triager.load()
    log.info("models loaded in %.2f s (version %s)", time.perf_counter() - started,
             triager.version)
    return triager


def setup(app: web.Application, redis_url: str) -> None:
    """Run the configured number of workers inside this process (tests, small installs)."""

    async def workers_ctx(app: web.Application) -> AsyncIterator[None]:
        config = app[CONFIG]
        client = connection.async_client(redis_url)
        triager = await classifier_watch.start(redis_url, app[KEYS], app[DATA_DIR], consumer_name(),
                                          load_triager())
        stop = asyncio.Event()
        tasks = [asyncio.create_task(
            TriageWorker(client, app[KEYS], config, triager, consumer_name(i)).run(stop))
            for i in range(config.workers.count)]
        tasks.append(asyncio.create_task(auto_answer.AutoAnswerWorker(
            client, app[KEYS], config, consumer_name()).run(stop)))
        yield
        stop.set()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10)
        await triager.close()
        await client.aclose()

    app.cleanup_ctx.append(workers_ctx)
