"""The ingest stream does not keep every message ever received: with the real worker running,
entries the group has acknowledged (their messages are on tickets) are trimmed once older than
`workers.keep_acked_seconds`, while an entry another consumer still holds unacknowledged — and
everything after it — stays, and the messages stay readable. Before, the stream grew without
bound: each message was in Redis twice, forever (4,810 entries after a day's probing)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import redis

from deskgate.gateway.config import Config, WorkerConfig
from deskgate.gateway.web.app import create_app
from deskgate.models.codec import encode
from deskgate.models.enums import Role
from deskgate.queue.keys import Keys
from deskgate.queue.stream import GROUP


@pytest.fixture
def config(prefix: str) -> Config:
    return Config(redis_prefix=prefix, workers=WorkerConfig(
        block_ms=50, claim_idle_ms=10**9, lease_seconds=60, keep_acked_seconds=0))


async def _ticketed(client: Any, headers: dict[str, str], ids: list[str]) -> None:
    for _ in range(600):
        states = [await (await client.get(f"/api/v1/messages/{i}", headers=headers)).json()
                  for i in ids]
        if all(s.get("state") == "ticketed" for s in states):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("messages were not ticketed")


@pytest.mark.slow
async def test_acknowledged_entries_are_trimmed_pending_ones_kept(
        aiohttp_client: Any, config: Config, redis_url: str, data_dir: Path, r: redis.Redis,
        prefix: str, auth: Any, message: Any) -> None:
    keys = Keys(prefix)
    client = await aiohttp_client(create_app(config, redis_url, data_dir, run_workers=True))
    crm, manager = auth(Role.INTEGRATION), auth(Role.MANAGER)

    async def post(n: int, tag: str) -> list[str]:
        out = []
        for i in range(n):
            resp = await client.post("/api/v1/messages", headers=crm,
                                     json=message(f"{tag}-{i}", sender={"id": f"{tag}-{i}"}))
            assert resp.status == 202
            out.append((await resp.json())["id"])
        return out

    early = await post(5, "early")
    await _ticketed(client, manager, early)
    # a consumer that read an entry and died holding it (never reclaimed in this test)
    # (in one transaction: the worker, blocked on the stream, is served only after it)
    with r.pipeline(transaction=True) as pipe:
        pipe.xadd(keys.ingest, {"id": "m_held", "m": encode({"not": "read by the worker"})})
        pipe.xreadgroup(GROUP, "ghost", {keys.ingest: ">"}, count=1)
        held, got = pipe.execute()
    assert got[0][1][0][0] == held
    late = await post(3, "late")
    await _ticketed(client, manager, late)

    for _ in range(600):     # the worker trims every few seconds
        if r.xlen(keys.ingest) == 1 + len(late):
            break
        await asyncio.sleep(0.05)
    entries = [eid for eid, _ in r.xrange(keys.ingest)]
    assert entries[0] == held and len(entries) == 1 + len(late)
    assert r.xpending(keys.ingest, GROUP)["pending"] == 1
    # the trimmed messages are still where they were: on their tickets
    for mid in early:
        body = await (await client.get(f"/api/v1/messages/{mid}", headers=manager)).json()
        assert body["state"] == "ticketed"
        ticket = await (await client.get(f"/api/v1/tickets/{body['ticket_id']}",
                                         headers=manager)).json()
        assert ticket["messages"][0]["id"] == mid
