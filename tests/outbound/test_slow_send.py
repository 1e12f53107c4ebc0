"""A send slower than senders.claim_idle_ms (a relay or provider taking its time, a reply of
several large files) is still one send: the live sender worker that holds it neither takes
it over from itself nor lets another worker take it over, so the customer never gets the
reply twice while the first attempt is still going."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from deskgate.gateway.workers import senders as sender_worker
from deskgate.models.enums import Role
from deskgate.queue.keys import Keys
from deskgate.queue.outbox import Outbox

from .conftest import Tickets, email_message
from .relay import Relay

CLAIM_TICK = 0.2          # the worker looks for stale entries this often (5 s in production)


@pytest.fixture(autouse=True)
def frequent_claims(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sender_worker, "AUTOCLAIM_EVERY_SECONDS", CLAIM_TICK)


async def _true(value: bool) -> bool:
    return value


async def test_a_send_held_past_claim_idle_goes_once(
        client: Any, tickets: Tickets, relay: tuple[Relay, Path], senders: None,
        auth: Callable[..., dict[str, str]], aclient: aioredis.Redis, keys: Keys,
        config: Any, eventually: Callable[..., Any]) -> None:
    stand_in = relay[0]
    stand_in.hold = threading.Event()
    tid = await tickets.open(email_message("slow@example.cn"))
    resp = await client.post(f"/api/v1/tickets/{tid}/replies",
                             headers=auth(Role.AGENT, "ann"), json={"text": "只发一次"})
    assert resp.status == 201, await resp.text()
    rid = (await resp.json())["id"]
    await eventually(lambda: _true(stand_in.data_started.is_set()))
    # the relay holds the mail for several claim ticks past the entry's claim_idle_ms
    await asyncio.sleep(config.senders.claim_idle_ms / 1000 + 10 * CLAIM_TICK)
    stand_in.hold.set()
    box = Outbox(aclient, keys)

    async def sent() -> Any:
        r = await box.get(rid)
        return r if r is not None and r.state == "sent" else None

    done = await eventually(sent)
    # let a second delivery, had one started, reach the relay
    await asyncio.sleep(10 * CLAIM_TICK)
    assert done.attempts == 1
    assert len(stand_in.received) == 1
    assert (await aclient.xpending(keys.outbox, "send"))["pending"] == 0
