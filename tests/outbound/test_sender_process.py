"""The sender worker as a real process (`deskgate senders`), killed with SIGKILL while the
relay holds its mail: nothing is lost, and the reply is sent at most once more. Also the last
retry into the dead-letter stream and a relay that stops answering (timeouts)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from deskgate.models.enums import Role
from deskgate.queue.keys import Keys
from deskgate.queue.outbox import Outbox
from tests.email.dnszone import DnsStandIn
from tests.processes import DeskgateProcess

from .conftest import Tickets, email_message, relay_config
from .relay import Relay


@pytest.fixture
def sender_process(tmp_path: Path, prefix: str, relay: tuple[Relay, Path], dns: DnsStandIn,
                   data_dir: Path, redis_url: str) -> Iterator[DeskgateProcess]:
    cfg = tmp_path / "senders.yaml"
    cfg.write_text(relay_config(prefix, relay[0], relay[1], dns), encoding="utf-8")
    proc = DeskgateProcess(["senders"], cfg, data_dir, redis_url, "kill-test")
    yield proc
    proc.stop()


async def test_sigkill_mid_send_sends_at_most_once_more(
        client: Any, tickets: Tickets, relay: tuple[Relay, Path],
        sender_process: DeskgateProcess, auth: Callable[..., dict[str, str]],
        aclient: aioredis.Redis, keys: Keys, eventually: Callable[..., Any]) -> None:
    stand_in = relay[0]
    stand_in.hold = threading.Event()
    tid = await tickets.open(email_message("kill@example.cn"))
    resp = await client.post(f"/api/v1/tickets/{tid}/replies",
                             headers=auth(Role.AGENT, "ann"), json={"text": "只发一次"})
    rid = (await resp.json())["id"]
    sender_process.start()
    await eventually(lambda: _async(stand_in.data_started.is_set()))
    sender_process.kill()                        # the relay has the whole mail; we never knew
    stand_in.hold.set()
    box = Outbox(aclient, keys)
    assert (await box.get(rid)).state == "queued"   # type: ignore[union-attr]
    sender_process.start()

    async def sent() -> Any:
        r = await box.get(rid)
        return r if r is not None and r.state == "sent" else None

    done = await eventually(sent)
    assert done.attempts == 2
    ids = {str(m.message["Message-ID"]) for m in stand_in.received}
    assert len(stand_in.received) == 2 and ids == {f"<{done.provider_id}>"}
    assert (await aclient.xpending(keys.outbox, "send"))["pending"] == 0


async def test_last_retry_goes_to_dead_letter(
        client: Any, tickets: Tickets, relay: tuple[Relay, Path], senders: None,
        auth: Callable[..., dict[str, str]], aclient: aioredis.Redis, keys: Keys,
        eventually: Callable[..., Any]) -> None:
    relay[0].answers.extend(["421 4.7.0 busy"] * 3)       # max_attempts is 3 in the config
    tid = await tickets.open(email_message("dead@example.cn"))
    rid = (await (await client.post(f"/api/v1/tickets/{tid}/replies",
                                    headers=auth(Role.AGENT, "ann"),
                                    json={"text": "x"})).json())["id"]

    async def dead() -> Any:
        return await aclient.xrange(keys.outbox_dead)

    [(_, fields)] = await eventually(dead)
    assert fields[b"r"] == rid.encode() and b"421" in fields[b"reason"]
    r = await Outbox(aclient, keys).get(rid)
    assert r is not None and r.state == "failed" and r.attempts == 3
    assert relay[0].received == []
    listed = await (await client.get(f"/api/v1/tickets/{tid}/replies",
                                     headers=auth(Role.AGENT, "ann"))).json()
    assert listed["replies"][0]["state"] == "failed" and "421" in listed["replies"][0]["reason"]


async def _async(value: bool) -> bool:
    return value
