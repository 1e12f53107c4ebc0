"""Fixtures for retraining tests: an app per test (own key prefix, own data dir), admin tokens,
labelled past tickets in Chinese and English (with a topic the packaged model does not know,
"warranty"), a Zendesk-shaped export of them, and a way to run queued jobs with a real rq
worker (SimpleWorker in a thread, burst mode)."""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Callable
from typing import Any

import pytest

from deskgate.gateway.config import Config, WorkerConfig
from deskgate.models.enums import Role
from deskgate.models.routing import RoutingRule, RoutingTable

TEMPLATES: dict[str, tuple[list[str], str]] = {
    "order_status": (["我的订单{n}什么时候发货？", "订单{n}一直显示待发货，请查一下",
                      "Where is my order {n}? It still says processing",
                      "Can you check the status of order {n} please"], "P3"),
    "shipping": (["快递单号SF{n}三天没更新了", "物流一直停在转运中心，包裹{n}到哪了",
                  "The tracking number {n} has not moved for days",
                  "My parcel {n} is stuck in transit with the courier"], "P2"),
    "returns_refunds": (["我要退货退款，订单{n}的衣服尺码不对", "申请退款{n}元，什么时候到账",
                         "I want to return item {n} and get a refund",
                         "Refund for order {n} has not arrived yet"], "P3"),
    "billing": (["发票{n}开错了，需要重开", "我被重复扣款了{n}元",
                 "I was charged twice on invoice {n}",
                 "Please send me a corrected invoice {n} for my company"], "P2"),
    "warranty": (["手机{n}屏幕坏了，还在保修期内，怎么保修", "保修卡丢了，产品{n}还能保修吗",
                  "My device {n} broke, is it still under warranty?",
                  "Warranty claim for product {n}: the screen stopped working"], "P3"),
}


def labelled_rows(per_topic: int = 60, seed: int = 0) -> list[dict[str, str]]:
    """Past tickets: id, subject, text, topic, priority (Zendesk words), in zh and en."""
    rng = random.Random(seed)
    words = {"P2": "High", "P3": "Normal"}
    rows = []
    for topic, (templates, prio) in TEMPLATES.items():
        for i in range(per_topic):
            text = templates[i % len(templates)].format(n=rng.randrange(10**5, 10**9))
            rows.append({"Id": f"{topic[:3]}-{i}", "Subject": "", "Description": text,
                         "Category": topic, "Priority": words[prio], "Status": "solved"})
    rng.shuffle(rows)
    return rows


def zendesk_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    fields = ["Id", "Requester", "Subject", "Description", "Status", "Priority", "Category"]
    w = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({"Requester": "Li Lei", **r})
    return out.getvalue()


async def post_message(client: Any, headers: dict[str, str], ext: str, text: str) -> str:
    """POST one API message (the sender derived from `ext`); its id once accepted."""
    resp = await client.post("/api/v1/messages", headers=headers, json={
        "external_id": ext, "sender": {"email": f"{ext}@example.cn"}, "text": text})
    assert resp.status == 202, await resp.text()
    return str((await resp.json())["id"])


async def ticket_of(client: Any, headers: dict[str, str], mid: str, eventually: Any) -> Any:
    """The ticket a message landed on, once the worker has put it there."""
    async def ticket_id() -> str | None:
        body = await (await client.get(f"/api/v1/messages/{mid}", headers=headers)).json()
        return body.get("ticket_id")
    tid = await eventually(ticket_id)
    return await (await client.get(f"/api/v1/tickets/{tid}", headers=headers)).json()


@pytest.fixture
def config(prefix: str) -> Config:
    return Config(redis_prefix=prefix,
                  workers=WorkerConfig(block_ms=50, claim_idle_ms=500, lease_seconds=60),
                  routing=RoutingTable(rules=(RoutingRule(topics=("warranty",), skill="repairs"),
                                              RoutingRule(topics=("billing",), skill="billing"))))


@pytest.fixture
def admin(token: Callable[..., str]) -> dict[str, str]:
    """An admin labelled "ops", the name the registry records as trainer and promoter."""
    return {"Authorization": f"Bearer {token(Role.ADMIN, label='ops')}"}


@pytest.fixture
def manager(auth: Callable[..., dict[str, str]]) -> dict[str, str]:
    return auth(Role.MANAGER)


@pytest.fixture(name="past_tickets")
def past_tickets_fixture() -> Callable[..., list[dict[str, str]]]:
    return labelled_rows


@pytest.fixture(name="to_zendesk_csv")
def to_zendesk_csv_fixture() -> Callable[[list[dict[str, Any]]], str]:
    return zendesk_csv

