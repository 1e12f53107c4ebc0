"""Fixtures for the work side: a private key prefix, real Redis, tickets enqueued the way the
worker stores them, the app over real HTTP (pattern of tests/spine/conftest.py)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from deskgate.gateway.config import Config
from deskgate.gateway.web.app import create_app
from deskgate.models.enums import Channel, IdentityKind, Priority, Sentiment
from deskgate.models.message import Identity, InboundMessage, Sender
from deskgate.models.scoring import queue_score
from deskgate.models.triage import Entity, Risk, Triage
from deskgate.queue.keys import Keys
from deskgate.queue.tickets import Placement, TicketStore

_n = itertools.count(1)


def triage(priority: Priority = Priority.P3, *, topic: str = "other", language: str = "zh",
           sentiment: Sentiment = Sentiment.NEUTRAL, high_risk: bool = False,
           entities: tuple[str, ...] = (), confidence: float = 0.9) -> Triage:
    return Triage(language=language, topic=topic, confidence=confidence, priority=priority,
                  sentiment=sentiment,
                  risk=Risk(high=high_risk, score=0.9 if high_risk else 0.0,
                            reasons=("threatens legal action",) if high_risk else ()),
                  entities=tuple(Entity(label, "x", 0, 1) for label in entities))


class Enqueue:
    """Stores tickets as the worker does (customer, apply) at an explicit time."""

    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self.store = TicketStore(client, keys)
        self.client = client
        self.keys = keys

    async def __call__(self, queue: str, at: float, priority: Priority = Priority.P3, *,
                       tier: str = "standard", high_risk: bool = False,
                       customer: str = "") -> str:
        n = next(_n)
        m = InboundMessage(channel=Channel.API, account="default", external_id=f"wk{n}",
                           sender=Sender((Identity(IdentityKind.EMAIL,
                                                   customer or f"c{n}@example.cn"),)),
                           received_at=datetime.fromtimestamp(at, UTC), text=f"问题 {n}",
                           thread_key=f"wk{n}")
        [ctx] = await self.store.resolve_customers([m], at)
        if tier != "standard":
            await self.client.hset(self.keys.customer(ctx.customer_id), "tier", tier)
        [applied] = await self.store.apply([Placement(
            m, ctx.customer_id, triage(priority, high_risk=high_risk), queue,
            queue_score(at, priority, tier))], at)
        assert applied.outcome == "new"
        return applied.ticket_id


@pytest.fixture
def enqueue(aclient: aioredis.Redis, keys: Keys) -> Enqueue:
    return Enqueue(aclient, keys)


@pytest.fixture
def make_client(aiohttp_client: Any, redis_url: str, data_dir: Path) -> Callable[..., Any]:
    async def make(config: Config, run_workers: bool = False) -> Any:
        return await aiohttp_client(create_app(config, redis_url, data_dir,
                                               run_workers=run_workers))
    return make
