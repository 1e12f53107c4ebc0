"""Macros over real HTTP and Redis: admins keep them (bad variables refused), agents list
them, see one filled in for a ticket in the customer's language, and reply with one, which
also labels the ticket, sets it pending and moves it to the macro's skill."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import redis.asyncio as aioredis

from deskgate.models.enums import Role
from deskgate.models.triage import Entity
from deskgate.queue.keys import Keys
from tests.work.conftest import triage

from .conftest import Tickets, email_message

MACRO = {"title": "物流查询 / Shipping",
         "zh": "{customer_name}您好，订单 {order_number} 的运单号是 {tracking_number}（工单 {ticket}）。",
         "en": "Hi {customer_name}, order {order_number} ships as {tracking_number}.",
         "set_status": "pending", "set_skill": "logistics", "labels": ["shipping", "faq"]}


async def test_admin_crud_and_validation(client: Any,
                                         auth: Callable[..., dict[str, str]]) -> None:
    admin = auth(Role.ADMIN)
    assert (await client.put("/api/v1/macros/ship", headers=admin, json=MACRO)).status == 200
    for bad in ({**MACRO, "zh": "{password}"}, {**MACRO, "zh": "{customer_name.__class__}"},
                {**MACRO, "zh": "{0}"}, {**MACRO, "zh": "unclosed {"}, {"title": "empty"},
                {**MACRO, "set_skill": "no such/skill!"}, {**MACRO, "labels": ["a b"]}):
        resp = await client.put("/api/v1/macros/bad", headers=admin, json=bad)
        assert resp.status == 422, (bad, await resp.text())
    assert (await client.put("/api/v1/macros/Bad Id", headers=admin, json=MACRO)).status in (
        400, 404)
    agent = auth(Role.AGENT, "ann")
    assert (await client.put("/api/v1/macros/x", headers=agent, json=MACRO)).status == 403
    listed = await (await client.get("/api/v1/macros", headers=agent)).json()
    assert [m["id"] for m in listed["macros"]] == ["ship"]
    assert "order_number" in listed["variables"]
    assert (await client.delete("/api/v1/macros/ship", headers=admin)).status == 200
    assert (await client.delete("/api/v1/macros/ship", headers=admin)).status == 404


async def test_reply_with_macro_fills_and_applies(
        client: Any, auth: Callable[..., dict[str, str]], tickets: Tickets,
        aclient: aioredis.Redis, keys: Keys) -> None:
    assert (await client.put("/api/v1/macros/ship", headers=auth(Role.ADMIN),
                             json=MACRO)).status == 200
    t = msgspec.structs.replace(triage(), entities=(
        Entity("ORDER_ID", "A20261202", 0, 9), Entity("TRACKING_NO", "SF1234567890123", 10, 25)))
    tid = await tickets.open(email_message(), triaged=t)
    ann = auth(Role.AGENT, "ann")
    preview = await (await client.get(f"/api/v1/tickets/{tid}/macros/ship", headers=ann)).json()
    assert preview["text"] == (f"李雷您好，订单 A20261202 的运单号是 SF1234567890123（工单 {tid}）。")
    resp = await client.post(f"/api/v1/tickets/{tid}/replies", headers=ann,
                             json={"macro": "ship"})
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    assert body["text"] == preview["text"] and body["macro_problems"] == []
    assert await aclient.smembers(keys.ticket_labels(tid)) == {b"shipping", b"faq"}
    fields = await aclient.hmget(keys.ticket(tid), ["status", "skill"])
    assert fields == [b"pending", b"logistics"]
    missing = await client.post(f"/api/v1/tickets/{tid}/replies", headers=ann,
                                json={"macro": "nope", "text": "x"})
    assert missing.status == 404
