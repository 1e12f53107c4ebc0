"""The work side of a worker: how a triaged message is routed (live routing table, overflow),
what happens once its ticket is stored (SLA clocks, creation audit, push assignment), and the
periodic tick that keeps work moving — expired leases back to their queues, answered pending
tickets resumed, SLA warnings and breaches, push-mode assignment, manager notifications.

Every step is an atomic, idempotent Redis script, so any number of workers may run it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence

import aiohttp
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from deskgate.gateway.config import Config
from deskgate.gateway.workers.daily_summary import DailySummary
from deskgate.gateway.workers.notify import Notifier
from deskgate.gateway.workers.surveys import SurveyStage
from deskgate.models.message import InboundMessage
from deskgate.models.routing import Route, split_queue
from deskgate.models.triage import Triage
from deskgate.queue.connection import raise_if_cancelled
from deskgate.queue.keys import Keys
from deskgate.queue.rollups import Rollups
from deskgate.queue.routing import RoutingStore
from deskgate.queue.sla import Sla
from deskgate.queue.sla_store import SlaConfigStore
from deskgate.queue.tickets import Applied
from deskgate.queue.work import Work

log = logging.getLogger("deskgate.work")
ROLLUP_BATCHES_PER_TICK = 20


class WorkLoop:
    def __init__(self, client: aioredis.Redis, keys: Keys, config: Config, consumer: str) -> None:
        self.routing = RoutingStore(client, keys, config.routing)
        self.work = Work(client, keys, lease_seconds=config.workers.lease_seconds)
        self.sla = Sla(client, keys, config.sla, lease_seconds=config.workers.lease_seconds)
        self.notifier = Notifier(client, keys, config.sla, consumer)
        self.period = config.sla.sweep_seconds
        self.sla_config = SlaConfigStore(client, keys, config.sla)
        self.rollups = Rollups(client, keys, config.sla)
        self.surveys = SurveyStage(client, keys, config, consumer)
        self.summaries = DailySummary(client, keys, config, self.rollups, consumer)

    async def _reload(self) -> None:
        """Teams and SLA policies an admin changed apply from the next step on."""
        cfg = await self.sla_config.current()
        self.sla.config = self.notifier.config = self.rollups.config = cfg
        self.period = cfg.sweep_seconds

    async def route(self, items: Sequence[tuple[InboundMessage, Triage, str]],
                    now: float) -> list[Route]:
        """(message, triage, customer tier) -> where each new ticket would go."""
        table = await self.routing.current()
        out = []
        for m, t, tier in items:
            r = table.decide(t, channel=m.channel, account=m.account, tier=tier,
                             skill_hint=m.skill_hint)
            out.append(await self.routing.place(r, now, table))
        return out

    async def placed(self, applied: Sequence[Applied], routes: Sequence[Route],
                     now: float) -> None:
        """After the store: start the clocks of new tickets ('replay' too: a crash may have
        come between the store and this step; starting is idempotent), restart the
        resolution clock of reopened ones, and push where the skill is in push mode."""
        new = [(a.ticket_id, r) for a, r in zip(applied, routes, strict=True)
               if a.outcome in ("new", "replay")]
        await self._reload()
        await self.sla.start([tid for tid, _ in new], now, details=[
            r.rule + (f"; overflow from {r.overflowed_from}" if r.overflowed_from else "")
            for _, r in new])
        reopened = [a.ticket_id for a in applied if a.outcome == "reopen"]
        if reopened:
            await self.sla.start(reopened, now, action="reopened", detail="customer wrote again",
                                 once=False)
        table = await self.routing.current()
        if table.push_skills:
            for q in {r.queue for _, r in new if r.skill in table.push_skills}:
                await self.work.push(q, now)

    async def tick(self, now: float | None = None) -> None:
        now = now or time.time()
        await self._reload()
        if expired := await self.work.expire_leases(now):
            log.info("leases expired, back in their queues: %s", ", ".join(expired))
        if resumed := await self.sla.resume_answered(now):
            log.info("customers answered, clocks running again: %s", ", ".join(resumed))
        swept = await self.sla.sweep(now)
        if swept.breaches or swept.warnings:
            log.info("SLA: %d warnings, %d breaches escalated", swept.warnings, swept.breaches)
        # bounded, so that after a rebuild or a long stop the SLA sweep still runs each tick
        await self.rollups.catch_up(max_batches=ROLLUP_BATCHES_PER_TICK)
        if surveys := await self.surveys.step(now):
            log.info("%d satisfaction surveys queued for sending", surveys)
        table = await self.routing.current()
        if table.push_skills:
            await self.work.push_skills([split_queue(s)[0] for s in table.push_skills], now)

    async def run(self, stop: asyncio.Event) -> None:
        async with aiohttp.ClientSession() as session:
            while not stop.is_set():
                try:
                    await self.tick()
                    await self.notifier.deliver(session)
                    await self.summaries.tick(time.time(), session)
                except (RedisError, OSError) as exc:
                    raise_if_cancelled(exc)
                    log.error("work tick failed (%s); retrying", exc)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.period)
