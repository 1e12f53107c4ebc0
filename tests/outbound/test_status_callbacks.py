"""Providers' delivery status callbacks, posted as the providers sign them to the real webhook
routes and read by the real triage worker, move our replies' states forward (and never back)."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import redis.asyncio as aioredis
from twilio.request_validator import RequestValidator

from deskgate.gateway.config import Config, HttpConfig, WorkerConfig
from deskgate.gateway.web.app import create_app
from deskgate.models.enums import Channel, Role
from deskgate.models.outbound import DeliveryState
from deskgate.queue.keys import Keys
from deskgate.queue.outbox import Outbox
from tests.connectors.test_meta import ACCOUNT, meta_headers

from .conftest import Tickets, chat_message

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TWILIO_TOKEN = "12345678901234567890123456789012"
PUBLIC = "https://desk.example.com"


@pytest.fixture
def config(prefix: str) -> Config:
    return Config(redis_prefix=prefix, http=HttpConfig(public_url=PUBLIC),
                  workers=WorkerConfig(block_ms=50, claim_idle_ms=500),
                  channels={"whatsapp": {"waba": ACCOUNT}, "messenger": {"page": ACCOUNT},
                            "twilio": {"cn-sms": {"auth_token": TWILIO_TOKEN,
                                                  "account_sid": "AC" + "X" * 32}}})


async def sent_reply(client: Any, tickets: Tickets, aclient: aioredis.Redis, keys: Keys,
                     auth: Callable[..., dict[str, str]], message: Any,
                     provider_id: str) -> str:
    """A reply the way a sender worker leaves it once the provider accepted it."""
    tid = await tickets.open(message)
    rid = (await (await client.post(f"/api/v1/tickets/{tid}/replies",
                                    headers=auth(Role.AGENT, "ann"),
                                    json={"text": "已发货"})).json())["id"]
    box = Outbox(aclient, keys)
    attempt = await box.begin(rid, time.time())
    assert attempt.message is not None
    [(entry, _)] = [(e, f) for e, f in await aclient.xrange(keys.outbox)
                    if f[b"r"] == rid.encode()]
    await box.sent(attempt.message, entry.decode(), provider_id, DeliveryState.SENT,
                   time.time())
    return rid


def whatsapp_status(status: str, wamid: str) -> bytes:
    body = json.loads((FIXTURES / "whatsapp" / "status.json").read_bytes())
    body = copy.deepcopy(body)
    s = body["entry"][0]["changes"][0]["value"]["statuses"][0]
    s["status"], s["id"] = status, wamid
    s["timestamp"] = str(int(time.time()))
    return json.dumps(body).encode()


async def state(aclient: aioredis.Redis, keys: Keys, rid: str) -> str:
    r = await Outbox(aclient, keys).get(rid)
    assert r is not None
    return r.state


async def test_whatsapp_statuses_forward_only(
        aiohttp_client: Any, config: Config, redis_url: str, data_dir: Path,
        tickets: Tickets, aclient: aioredis.Redis, keys: Keys,
        auth: Callable[..., dict[str, str]], eventually: Callable[..., Any]) -> None:
    client = await aiohttp_client(create_app(config, redis_url, data_dir, run_workers=True))
    rid = await sent_reply(client, tickets, aclient, keys, auth,
                           chat_message(Channel.WHATSAPP, "16505551234", account="waba"),
                           "wamid.OURS-1")
    for status in ("read", "delivered"):          # "delivered" arrives late, after "read"
        body = whatsapp_status(status, "wamid.OURS-1")
        resp = await client.post("/webhooks/whatsapp/waba", data=body,
                                 headers=meta_headers(body))
        assert resp.status == 200

    async def noise_seen() -> Any:
        return await aclient.xlen(keys.noise) == 2

    await eventually(noise_seen)
    assert await state(aclient, keys, rid) == "read"
    # a status about a message that is not ours changes nothing and breaks nothing
    body = whatsapp_status("delivered", "wamid.NOT-OURS")
    assert (await client.post("/webhooks/whatsapp/waba", data=body,
                              headers=meta_headers(body))).status == 200


async def test_twilio_status_callback(
        aiohttp_client: Any, config: Config, redis_url: str, data_dir: Path,
        tickets: Tickets, aclient: aioredis.Redis, keys: Keys,
        auth: Callable[..., dict[str, str]], eventually: Callable[..., Any]) -> None:
    client = await aiohttp_client(create_app(config, redis_url, data_dir, run_workers=True))
    rid = await sent_reply(client, tickets, aclient, keys, auth,
                           chat_message(Channel.SMS, "+8613800138000", account="cn-sms"),
                           "SM" + "a" * 32)
    params = {"MessageSid": "SM" + "a" * 32, "MessageStatus": "undelivered",
              "To": "+8613800138000", "From": "+14155550100",
              "AccountSid": "AC" + "X" * 32, "ErrorCode": "30005"}
    url = f"{PUBLIC}/webhooks/twilio/cn-sms"
    headers = {"X-Twilio-Signature": RequestValidator(TWILIO_TOKEN).compute_signature(
        url, params), "Content-Type": "application/x-www-form-urlencoded"}
    resp = await client.post("/webhooks/twilio/cn-sms", data=urlencode(params),
                             headers=headers)
    assert resp.status == 200

    async def failed() -> Any:
        return await state(aclient, keys, rid) == "failed"

    await eventually(failed)


async def test_messenger_watermark(
        aiohttp_client: Any, config: Config, redis_url: str, data_dir: Path,
        tickets: Tickets, aclient: aioredis.Redis, keys: Keys,
        auth: Callable[..., dict[str, str]], eventually: Callable[..., Any]) -> None:
    client = await aiohttp_client(create_app(config, redis_url, data_dir, run_workers=True))
    psid = "6543210987654321"
    rid = await sent_reply(client, tickets, aclient, keys, auth,
                           chat_message(Channel.MESSENGER, psid, account="page"), "m_ours")
    body = json.loads((FIXTURES / "messenger" / "delivery.json").read_bytes())
    entry = body["entry"][0]
    entry["messaging"] = entry["messaging"][:1]
    entry["messaging"][0]["delivery"]["watermark"] = int(time.time() * 1000) + 1000
    raw = json.dumps(body).encode()
    assert (await client.post("/webhooks/messenger/page", data=raw,
                              headers=meta_headers(raw))).status == 200

    async def delivered() -> Any:
        return await state(aclient, keys, rid) == "delivered"

    await eventually(delivered)
