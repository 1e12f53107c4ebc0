"""Agents' replies reach the web-chat visitor: the site backend polls a signed endpoint for
its visitor, gets each reply once (the reply becomes delivered), and confirms it was shown
(read). Unsigned, stale or mis-signed polls are refused; another visitor sees nothing."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from deskgate.connectors.webchat import sign
from deskgate.gateway.config import Config, parse_config
from deskgate.models.enums import Channel, Role
from deskgate.queue.keys import Keys
from deskgate.queue.outbox import Outbox
from tests.email.dnszone import DnsStandIn

from .conftest import Tickets, chat_message, relay_config
from .relay import Relay

SECRET = "site-secret-0123456789abcdef"


@pytest.fixture
def config(prefix: str, relay: tuple[Relay, Path], dns: DnsStandIn) -> Config:
    return parse_config(relay_config(prefix, relay[0], relay[1], dns)
                        + f"channels: {{webchat: {{site: {{secret: {SECRET}}}}}}}\n")


def signed(method: str, path_qs: str, secret: str = SECRET,
           at: float | None = None) -> dict[str, str]:
    ts = str(int(at or time.time()))
    return {"X-Deskgate-Timestamp": ts,
            "X-Deskgate-Signature": sign(secret, ts, f"{method} {path_qs}".encode())}


async def poll(client: Any, visitor: str, after: float = 0, **kw: Any) -> Any:
    path = f"/webchat/site/replies?visitor={visitor}&after={after}"
    return await client.get(path, headers=signed("GET", path, **kw))


async def test_visitor_gets_agent_replies_once_then_read(
        client: Any, tickets: Tickets, senders: None, auth: Callable[..., dict[str, str]],
        aclient: aioredis.Redis, keys: Keys, eventually: Callable[..., Any]) -> None:
    tid = await tickets.open(chat_message(Channel.WEBCHAT, "v-77", account="site"))
    await tickets.open(chat_message(Channel.WEBCHAT, "v-88", account="site"))
    resp = await client.post(f"/api/v1/tickets/{tid}/replies", headers=auth(Role.AGENT, "ann"),
                             json={"text": "您好，我是客服小安 <b>!</b>"})
    rid = (await resp.json())["id"]
    box = Outbox(aclient, keys)

    async def sent() -> Any:
        r = await box.get(rid)
        return r is not None and r.state == "sent"

    await eventually(sent)
    first = await poll(client, "v-77")
    assert first.status == 200, await first.text()
    body = await first.json()
    assert [r["text"] for r in body["replies"]] == ["您好，我是客服小安 <b>!</b>"]
    assert (await box.get(rid)).state == "delivered"   # type: ignore[union-attr]
    again = await (await poll(client, "v-77", body["cursor"])).json()
    assert again["replies"] == []
    other = await (await poll(client, "v-88")).json()
    assert other["replies"] == []
    path = f"/webchat/site/replies/{rid}/read"
    read = await client.post(path, headers=signed("POST", path))
    assert read.status == 200 and (await read.json())["state"] == "read"


async def test_polls_must_be_signed(client: Any) -> None:
    path = "/webchat/site/replies?visitor=v-1&after=0"
    assert (await client.get(path)).status == 401
    assert (await poll(client, "v-1", secret="wrong-secret-0123456789")).status == 403
    assert (await poll(client, "v-1", at=time.time() - 3600)).status == 403
    # a signature for one visitor does not open another's replies
    headers = signed("GET", path)
    assert (await client.get(path.replace("v-1", "v-2"), headers=headers)).status == 403
    assert (await client.get("/webchat/nosite/replies?visitor=v", headers=headers)).status == 404
    bad = "/webchat/site/replies?visitor=../../x&after=0"
    assert (await client.get(bad, headers=signed("GET", bad))).status == 400
