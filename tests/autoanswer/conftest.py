"""Auto-answer fixtures: a shop's lookup webhook over real loopback HTTP that checks our HMAC
and timestamp and the documented request shape before it answers (in the mode a test sets:
ok, slow, 500, bad JSON, oversize, redirect, held until released); the WhatsApp Cloud API
stand-in the sender workers deliver to; the app with WhatsApp configured; customers writing
over the signed WhatsApp webhook."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import web

from deskgate.gateway.config import Config, WorkerConfig
from deskgate.models.enums import Role
from tests.connectors.test_meta import ACCOUNT, meta_headers
from tests.send.conftest import StandIn
from tests.send.test_meta import PHONE_ID, TOKEN, wa_routes

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
LOOKUP_SECRET = "shop-lookup-secret-0123456789"
REQUEST_KEYS = {"ticket", "topic", "account", "channel", "language", "entities", "sender"}
ORDER = "DD20261118004521"
FORM_SECRET = "site-secret-0123456789abcdef"
_n = itertools.count(1)


class Lookup:
    """The shop's order system. `mode` picks its next answers; every request that passed the
    signature and shape checks is in `requests`, every refused one in `refused`."""

    def __init__(self, secret: str = LOOKUP_SECRET) -> None:
        self.secret = secret
        self.mode = "ok"
        self.fields: dict[str, Any] = {"status": "shipped", "eta": "2026-12-05",
                                       "carrier": "SF Express"}
        self.requests: list[dict[str, Any]] = []
        self.refused: list[str] = []
        self.release = asyncio.Event()
        self.base = ""
        self.app = web.Application()
        self.app.router.add_post("/lookup", self.handle)
        self.app.router.add_post("/elsewhere", self.handle)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        stamp = request.headers.get("X-Deskgate-Timestamp", "")
        if not stamp.isdigit() or abs(time.time() - int(stamp)) > 300:
            self.refused.append("timestamp")
            return web.json_response({"error": "stale or missing timestamp"}, status=401)
        mac = hmac.new(self.secret.encode(), stamp.encode() + b"." + body, hashlib.sha256)
        if not hmac.compare_digest(request.headers.get("X-Deskgate-Signature", ""),
                                   "sha256=" + mac.hexdigest()):
            self.refused.append("signature")
            return web.json_response({"error": "bad signature"}, status=401)
        data = json.loads(body)
        if request.content_type != "application/json" or set(data) != REQUEST_KEYS:
            self.refused.append("shape")
            return web.json_response({"error": "unexpected request shape"}, status=400)
        self.requests.append(data)
        if self.mode == "hold":
            await self.release.wait()
        if self.mode == "slow":
            await asyncio.sleep(3)
        if self.mode == "500":
            return web.Response(status=500, text="Internal Server Error")
        if self.mode == "badjson":
            return web.Response(text="<html>order system maintenance</html>",
                                content_type="text/html")
        if self.mode == "list":
            return web.json_response([self.fields])
        if self.mode == "oversize":
            return web.json_response({**self.fields, "history": "x" * (70 * 1024)})
        if self.mode == "redirect":
            raise web.HTTPFound(f"{self.base}/elsewhere")
        return web.json_response(self.fields)


@pytest.fixture
async def lookup(aiohttp_server: Any) -> Lookup:
    shop = Lookup()
    server = await aiohttp_server(shop.app)
    shop.base = str(server.make_url("")).rstrip("/")
    return shop


@pytest.fixture
async def whatsapp(aiohttp_server: Any) -> StandIn:
    """The WhatsApp Cloud API: checks the bearer token and the documented body shape."""
    s = StandIn()
    wa_routes(s)
    server = await aiohttp_server(s.app)
    s.base = str(server.make_url("")).rstrip("/")
    return s


@pytest.fixture
def config(prefix: str, whatsapp: StandIn) -> Config:
    waba = {**ACCOUNT, "access_token": TOKEN, "api_base": whatsapp.base,
            "phone_number_id": PHONE_ID}
    return Config(redis_prefix=prefix, channels={"whatsapp": {"waba": waba},
                                                 "webform": {"shop": {"secret": FORM_SECRET}}},
                  workers=WorkerConfig(block_ms=50, claim_idle_ms=500))


def whatsapp_text(text: str, wa_id: str) -> bytes:
    """The documented text-message webhook, from `wa_id`, sent now, with a new message id."""
    body = copy.deepcopy(json.loads((FIXTURES / "whatsapp" / "text.json").read_bytes()))
    value = body["entry"][0]["changes"][0]["value"]
    value["contacts"][0]["wa_id"] = wa_id
    m = value["messages"][0]
    m["from"], m["id"], m["timestamp"] = wa_id, f"wamid.T{next(_n)}-{time.time_ns()}", \
        str(int(time.time()))
    m["text"]["body"] = text
    return json.dumps(body).encode()


async def customer_writes(client: Any, text: str, wa_id: str) -> None:
    body = whatsapp_text(text, wa_id)
    resp = await client.post("/webhooks/whatsapp/waba", data=body, headers=meta_headers(body))
    assert resp.status == 200, await resp.text()


async def form_submitted(client: Any, text: str, email: str) -> None:
    """A contact form posted by the shop's site (signed as docs/channels.md says): the email
    is what the visitor typed, unverified."""
    body = urlencode({"submission_id": f"form-{next(_n)}-{time.time_ns()}", "name": "Visitor",
                      "email": email, "message": text}).encode()
    stamp = str(int(time.time()))
    mac = hmac.new(FORM_SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256)
    resp = await client.post("/webhooks/webform/shop", data=body, headers={
        "X-Deskgate-Timestamp": stamp, "X-Deskgate-Signature": f"sha256={mac.hexdigest()}",
        "Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status == 200, await resp.text()


def answer_config(shop: Lookup, **over: Any) -> dict[str, Any]:
    """An order-status auto-answer against the stand-in; `over` replaces top-level fields."""
    return {"url": f"{shop.base}/lookup", "secret": LOOKUP_SECRET, "timeout_s": 2,
            "entities": ["ORDER_ID"],
            "gates": {"min_confidence": 0.5, "required_fields": ["status", "eta"],
                      "condition": {"field": "status", "one_of": ["shipped", "in_transit"]}},
            "en": "Hi {customer_name}, order {order_number} is {status} and arrives {eta}. "
                  "({ticket})",
            "zh": "您好，订单 {order_number} 状态：{status}，预计 {eta} 送达。（{ticket}）",
            **over}


async def configure(client: Any, auth: Callable[..., dict[str, str]], body: dict[str, Any],
                    account: str = "waba", topic: str = "order_status") -> None:
    resp = await client.put(f"/api/v1/auto-answers/{account}/{topic}",
                            headers=auth(Role.ADMIN), json=body)
    assert resp.status == 200, await resp.text()


async def ticket_from(client: Any, headers: dict[str, str], wa_id: str,
                      eventually: Callable[..., Any], *, decided: bool = True) -> Any:
    """The customer's (only) WhatsApp ticket, once the auto-answer stage decided on it."""
    async def found() -> Any:
        body = await (await client.get("/api/v1/tickets?channel=whatsapp&limit=200",
                                       headers=headers)).json()
        for t in body["tickets"]:
            full = await (await client.get(f"/api/v1/tickets/{t['id']}", headers=headers)).json()
            if full["customer"].get("identities") and any(
                    wa_id in i["value"] for i in full["customer"]["identities"]):
                if not decided or full.get("auto_answer"):
                    return full
        return None
    return await eventually(found)
