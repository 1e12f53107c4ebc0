"""The auto-answer stage in a real worker process (`deskgate worker`: triage and the stage),
killed with SIGKILL while the shop's lookup holds its request: the restarted worker re-does
the lookup and the customer is answered exactly once."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from deskgate.gateway.config import Config
from deskgate.gateway.web.app import create_app
from deskgate.models.enums import Role
from deskgate.queue.keys import Keys
from tests.connectors.test_meta import ACCOUNT
from tests.processes import DeskgateProcess
from tests.send.conftest import StandIn
from tests.send.test_meta import PHONE_ID, TOKEN

from .conftest import ORDER, Lookup, answer_config, configure, customer_writes, ticket_from


@pytest.fixture
def worker(tmp_path: Path, prefix: str, whatsapp: StandIn, data_dir: Path,
           redis_url: str) -> Iterator[DeskgateProcess]:
    waba = {**ACCOUNT, "access_token": TOKEN, "api_base": whatsapp.base,
            "phone_number_id": PHONE_ID}
    cfg = tmp_path / "worker.yaml"
    cfg.write_text(json.dumps({"redis_prefix": prefix, "channels": {"whatsapp": {"waba": waba}},
                               "workers": {"block_ms": 50, "claim_idle_ms": 500}}),
                   encoding="utf-8")
    proc = DeskgateProcess(["worker", "--count", "1"], cfg, data_dir, redis_url, "aa-kill-test")
    yield proc
    proc.stop()


async def test_sigkill_mid_lookup_answers_exactly_once(
        aiohttp_client: Any, config: Config, redis_url: str, data_dir: Path, lookup: Lookup,
        worker: DeskgateProcess, aclient: aioredis.Redis, keys: Keys,
        auth: Callable[..., dict[str, str]], eventually: Callable[..., Any]) -> None:
    client = await aiohttp_client(create_app(config, redis_url, data_dir, run_workers=False))
    await configure(client, auth, answer_config(lookup, timeout_s=10))
    lookup.mode = "hold"
    worker.start()
    await customer_writes(client, f"Where is my order {ORDER}? Nothing yet.", "16505554242")

    async def asked() -> bool:
        return len(lookup.requests) == 1
    await eventually(asked, timeout=90)          # the worker loads its models first
    worker.kill()                                # mid-lookup: nothing was decided
    ticket = await ticket_from(client, auth(Role.MANAGER), "16505554242", eventually,
                               decided=False)
    tid = ticket["id"]
    assert ticket.get("auto_answer") is None and ticket["status"] == "open"
    assert await aclient.llen(keys.ticket_replies(tid)) == 0

    lookup.mode = "ok"
    lookup.release.set()
    worker.start()
    done = await ticket_from(client, auth(Role.MANAGER), "16505554242", eventually)
    assert done["auto_answer"]["outcome"] == "answered" and done["status"] == "resolved"
    assert len(lookup.requests) == 2             # the lookup was re-done ...
    assert await aclient.llen(keys.ticket_replies(tid)) == 1      # ... the answer made once
    outbox = [f for _, f in await aclient.xrange(keys.outbox)]
    rid = (await aclient.lrange(keys.ticket_replies(tid), 0, 0))[0]
    assert [f[b"r"] for f in outbox].count(rid) == 1

    async def nothing_pending() -> bool:
        return (await aclient.xpending(keys.auto_answer_stream, "autoanswer"))["pending"] == 0
    await eventually(nothing_pending)
