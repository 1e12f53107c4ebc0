"""Provider deliveries through the webhook route with the triage worker running: they become
tickets of the right customers, conversations stay one ticket, and the route answers 503 with
Retry-After (so the provider retries) when Redis cannot take the write."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from twilio.request_validator import RequestValidator

from deskgate.gateway.config import Config
from deskgate.gateway.web.app import create_app
from deskgate.models.enums import Role
from deskgate.queue.keys import Keys
from deskgate.queue.tokens import create_token

META = {"app_secret": "9f8e7d6c5b4a39281706f5e4d3c2b1a0", "verify_token": "v"}
TG_SECRET = "tg_secret-0123456789abcdef"


def meta_headers(body: bytes) -> dict[str, str]:
    mac = hmac.new(META["app_secret"].encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={mac}"}


async def ticket_of(client: Any, headers: dict[str, str], message_id: str) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while loop.time() < deadline:
        body = await (await client.get(f"/api/v1/messages/{message_id}", headers=headers)).json()
        if "ticket_id" in body:
            resp = await client.get(f"/api/v1/tickets/{body['ticket_id']}", headers=headers)
            assert resp.status == 200
            return await resp.json()
        await asyncio.sleep(0.05)
    raise AssertionError(f"message {message_id} was not ticketed")


@pytest.mark.slow
async def test_whatsapp_and_telegram_deliveries_become_tickets_of_one_customer(
        hook_client, payload, ingested, r, prefix) -> None:
    client = await hook_client({"whatsapp": {"waba": META},
                                "telegram": {"bot": {"secret_token": TG_SECRET}}},
                               run_workers=True)
    headers = {"Authorization": f"Bearer {create_token(r, Keys(prefix), Role.MANAGER)[0]}"}
    wa = payload("whatsapp", "image_zh.json")
    assert (await client.post("/webhooks/whatsapp/waba", data=wa,
                              headers=meta_headers(wa))).status == 200
    tg = payload("telegram", "contact.json")
    assert (await client.post("/webhooks/telegram/bot", data=tg, headers={
        "X-Telegram-Bot-Api-Secret-Token": TG_SECRET})).status == 200
    for name in ("text.json", "interactive_button.json"):
        body = payload("whatsapp", name)
        assert (await client.post("/webhooks/whatsapp/waba", data=body,
                                  headers=meta_headers(body))).status == 200
    image, contact, first, reply = ingested()

    wa_ticket = await ticket_of(client, headers, image.id)
    assert wa_ticket["channel"] == "whatsapp"
    assert wa_ticket["messages"][0]["text"] == "收到的商品坏了，看图 📦💔"
    tg_ticket = await ticket_of(client, headers, contact.id)
    # the Telegram user shared the phone the WhatsApp customer writes from: one customer
    assert tg_ticket["customer"]["id"] == wa_ticket["customer"]["id"]
    assert {"kind": "phone", "value": "+8613800138000"} in wa_ticket["customer"]["identities"]

    one, two = await ticket_of(client, headers, first.id), await ticket_of(client, headers,
                                                                           reply.id)
    assert one["id"] == two["id"]          # one WhatsApp conversation, one open ticket
    assert [m["id"] for m in two["messages"]] == [first.id, reply.id]
    assert one["customer"]["id"] != wa_ticket["customer"]["id"]


async def test_redis_down_answers_503_with_retry_after(aiohttp_client, payload,
                                                       tmp_path: Path) -> None:
    config = Config(channels={"whatsapp": {"waba": META},
                              "wechat": {"main": {"token": "t"}}})
    app = create_app(config, f"unix://{tmp_path}/no-redis.sock", tmp_path, run_workers=False)
    client = await aiohttp_client(app)
    body = payload("whatsapp", "text.json")
    resp = await client.post("/webhooks/whatsapp/waba", data=body, headers=meta_headers(body))
    assert resp.status == 503 and resp.headers["Retry-After"].isdigit()
    ts = str(int(time.time()))
    sig = hashlib.sha1("".join(sorted(["t", ts, "n"])).encode()).hexdigest()
    resp = await client.post(f"/webhooks/wechat/main?signature={sig}&timestamp={ts}&nonce=n",
                             data=payload("wechat", "text.xml"))
    assert resp.status == 503 and "Retry-After" in resp.headers


TWILIO_TOKEN = "12345678901234567890123456789012"
TWILIO_PUBLIC = "https://desk.example.com"


@pytest.mark.slow
@pytest.mark.parametrize(("wa_id", "sms_from", "e164"), [
    ("5215512345678", "+525512345678", "+525512345678"),      # Mexico: WhatsApp keeps the 1
    ("5491123456789", "+541123456789", "+541123456789"),      # Argentina: the mobile 9
    ("551187654321", "+5511987654321", "+5511987654321"),     # Brazil: no ninth digit
])
async def test_whatsapp_id_and_sms_number_of_one_mobile_are_one_customer(
        hook_client, payload_json, ingested, r, prefix, wa_id: str, sms_from: str, e164: str) -> None:
    """Issue 11 §8: the WhatsApp id and the number the carrier shows Twilio SMS differ for
    Mexican, Argentinian and (older accounts) Brazilian mobiles; both are one customer."""
    client = await hook_client({"whatsapp": {"waba": META}, "twilio": {"sms": {
        "auth_token": TWILIO_TOKEN}}}, public_url=TWILIO_PUBLIC, run_workers=True)
    headers = {"Authorization": f"Bearer {create_token(r, Keys(prefix), Role.MANAGER)[0]}"}
    wa = payload_json("whatsapp", "text.json")
    value = wa["entry"][0]["changes"][0]["value"]
    value["contacts"][0]["wa_id"] = value["messages"][0]["from"] = wa_id
    body = json.dumps(wa).encode()
    assert (await client.post("/webhooks/whatsapp/waba", data=body,
                              headers=meta_headers(body))).status == 200
    sms = {k: str(v) for k, v in payload_json("twilio", "sms.json").items()}
    sms["From"] = sms_from
    resp = await client.post("/webhooks/twilio/sms", data=urlencode(sms), headers={
        "X-Twilio-Signature": RequestValidator(TWILIO_TOKEN).compute_signature(
            f"{TWILIO_PUBLIC}/webhooks/twilio/sms", sms),
        "Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status == 200
    wa_msg, sms_msg = (m.id for m in ingested())
    wa_ticket = await ticket_of(client, headers, wa_msg)
    sms_ticket = await ticket_of(client, headers, sms_msg)
    assert (wa_ticket["channel"], sms_ticket["channel"]) == ("whatsapp", "sms")
    assert sms_ticket["customer"]["id"] == wa_ticket["customer"]["id"]
    assert {"kind": "phone", "value": e164} in wa_ticket["customer"]["identities"]

