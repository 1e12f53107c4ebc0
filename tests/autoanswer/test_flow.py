"""The order-status journey end to end, every part real: a customer's WhatsApp message (the
signed webhook) is triaged, the auto-answer stage calls the shop's lookup over loopback HTTP
(which checks our HMAC and timestamp), the answer goes through the outbox to the WhatsApp
stand-in, and the customer's "not solved" puts the ticket back in the agents' queue with the
answer on it. Then every way the answer must not go out, the stage's idempotency, and the
deflection and reopen rates computed by hand."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from deskgate.gateway.config import Config
from deskgate.gateway.replies import compose
from deskgate.gateway.web.app import create_app
from deskgate.gateway.workers.auto_answer import AutoAnswerWorker
from deskgate.models.auto_answer import AutoAnswerRecord
from deskgate.models.codec import decode
from deskgate.models.enums import Channel, IdentityKind, Role
from deskgate.models.message import Identity, InboundMessage, Sender
from deskgate.models.outbound import OutboundMessage
from deskgate.queue.audit import AuditLog
from deskgate.queue.auto_answers import AutoAnswerStore
from deskgate.queue.keys import Keys
from deskgate.queue.outbox import reply_id_for
from deskgate.queue.tickets import Placement, TicketStore
from tests.send.conftest import Scripted, StandIn
from tests.send.test_meta import WA
from tests.work.conftest import triage

from .conftest import (
    ORDER,
    Lookup,
    answer_config,
    configure,
    customer_writes,
    form_submitted,
    ticket_from,
)

ASK_EN = f"Where is my order {ORDER}? It has not arrived yet."


async def report(client: Any, headers: dict[str, str]) -> dict[str, Any]:
    resp = await client.get("/api/v1/reports/auto-answer", headers=headers)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    return dict(zip(body["columns"], body["rows"][0], strict=True)) if body["rows"] else {}


async def test_order_status_answered_then_back_to_an_agent_when_not_solved(
        aiohttp_client: Any, config: Config, redis_url: str, data_dir: Path, senders: None,
        lookup: Lookup, whatsapp: StandIn, auth: Callable[..., dict[str, str]],
        eventually: Callable[..., Any]) -> None:
    client = await aiohttp_client(create_app(config, redis_url, data_dir, run_workers=True))
    await configure(client, auth, answer_config(lookup))
    manager = auth(Role.MANAGER)

    await customer_writes(client, ASK_EN, "16505551234")
    ticket = await ticket_from(client, manager, "16505551234", eventually)
    tid = ticket["id"]
    assert ticket["auto_answer"]["outcome"] == "answered", ticket["auto_answer"]
    assert ticket["status"] == "resolved"           # no SLA clock runs while the customer reads
    assert ticket["auto_answer"]["fields"]["eta"] == "2026-12-05"
    # the shop got the order number triage found, for this ticket, signed (checked there)
    [asked] = lookup.requests
    assert asked["entities"] == {"ORDER_ID": [ORDER]} and asked["ticket"] == tid
    assert asked["topic"] == "order_status" and asked["channel"] == "whatsapp"
    assert asked["sender"] == {"phone": ["+16505551234"]}    # WhatsApp vouches for the number
    assert lookup.refused == []

    # the answer went out on WhatsApp, once, by "auto", filled from the lookup's fields
    await eventually(lambda: _true(len(whatsapp.requests) == 1))
    sent = whatsapp.requests[0]
    assert sent["to"] == "16505551234"
    assert f"order {ORDER} is shipped and arrives 2026-12-05. ({tid})" in sent["text"]["body"]
    replies = await (await client.get(f"/api/v1/tickets/{tid}/replies",
                                      headers=manager)).json()
    [auto] = replies["replies"]
    assert auto["author"] == "auto" and auto["state"] in ("sent", "delivered", "read")
    history = await (await client.get(f"/api/v1/tickets/{tid}/history",
                                      headers=manager)).json()
    audited = [e for e in history["history"] if e["action"] == "auto_answer"]
    assert [e["after"] for e in audited] == ["answered"]
    assert '"eta": "2026-12-05"' in audited[0]["detail"] and auto["id"] in audited[0]["detail"]

    # the customer is not satisfied: the ticket is reopened into its skill queue
    await customer_writes(client, "not solved, the tracking page shows nothing", "16505551234")

    async def reopened() -> Any:
        t = await (await client.get(f"/api/v1/tickets/{tid}", headers=manager)).json()
        return t if t["status"] == "open" and len(t["messages"]) == 2 else None
    again = await eventually(reopened)
    agent = auth(Role.ADMIN)
    resp = await client.put("/api/v1/agents/mia", headers=agent,
                            json={"skills": [again["skill"].split("@")[0]], "capacity": 3})
    assert resp.status == 200, await resp.text()
    claimed = await client.post("/api/v1/agents/mia/claim", headers=auth(Role.AGENT, "mia"))
    assert claimed.status == 200, await claimed.text()
    held = await claimed.json()
    assert held["ticket"]["id"] == tid
    # the agent sees what was answered and from which fields
    assert held["ticket"]["auto_answer"]["outcome"] == "answered"
    assert len(whatsapp.requests) == 1 and len(lookup.requests) == 1   # no second auto-answer

    # one eligible, answered and reopened: deflection 1.0, reopen rate 1.0
    async def counted() -> Any:
        row = await report(client, manager)
        return row if row.get("reopened") == 1 else None
    row = await eventually(counted)
    assert row == {"all": "all", "eligible": 1, "answered": 1, "deflection_rate": 1.0,
                   "reopened": 1, "reopen_rate": 1.0}


async def _true(value: bool) -> bool:
    return value


async def test_every_failure_routes_to_agents_with_the_reason(
        aiohttp_client: Any, config: Config, redis_url: str, data_dir: Path, lookup: Lookup,
        aclient: aioredis.Redis, keys: Keys, auth: Callable[..., dict[str, str]],
        eventually: Callable[..., Any]) -> None:
    client = await aiohttp_client(create_app(config, redis_url, data_dir, run_workers=True))
    await configure(client, auth, answer_config(lookup, timeout_s=0.5))
    await configure(client, auth, answer_config(lookup), account="*")
    manager = auth(Role.MANAGER)

    # an address nobody verified (typed into an API message) gets no automatic answer: it
    # could be a stranger's, and the shop's system is not even asked
    await form_submitted(client, ASK_EN, "someone@example.com")

    async def decided() -> Any:
        page = await (await client.get("/api/v1/tickets?channel=webform",
                                       headers=manager)).json()
        return page["tickets"] and page["tickets"][0].get("auto_answer")
    record = await eventually(decided)
    assert record["outcome"] == "routed" and record["config"] == "*/order_status"
    assert record["reason"].startswith("the sender's address is not verified")
    assert lookup.requests == []

    cases = [
        ("slow", "did not answer within 0.5 s"),
        ("500", "the lookup answered HTTP 500"),
        ("badjson", "the lookup's answer is not JSON"),
        ("list", "not a JSON object of fields"),
        ("oversize", "over 64 KB"),
        ("redirect", "the lookup answered HTTP 302"),
    ]
    for n, (mode, reason) in enumerate(cases):
        lookup.mode = mode
        wa_id = f"1650555{n:04d}"
        await customer_writes(client, ASK_EN, wa_id)
        t = await ticket_from(client, manager, wa_id, eventually)
        assert t["auto_answer"]["outcome"] == "routed", (mode, t["auto_answer"])
        assert reason in t["auto_answer"]["reason"], (mode, t["auto_answer"]["reason"])
        assert t["status"] == "open" and await aclient.zscore(keys.queue(t["skill"]), t["id"])
        assert await aclient.llen(keys.ticket_replies(t["id"])) == 0, mode
    assert lookup.refused == []
    assert len(lookup.requests) == len(cases)           # no redirect followed

    # a message with no order number is not looked up
    await customer_writes(client, "Where is my order? It has not arrived yet.", "16505558000")
    t = await ticket_from(client, manager, "16505558000", eventually)
    assert t["auto_answer"]["reason"] == "the message names no ORDER_ID"
    assert len(lookup.requests) == len(cases)

    # gates on the answer: a status outside the condition, a required field missing
    lookup.mode = "ok"
    lookup.fields = {"status": "processing", "eta": "2026-12-09"}
    await customer_writes(client, ASK_EN, "16505559001")
    t = await ticket_from(client, manager, "16505559001", eventually)
    assert t["auto_answer"]["reason"] == ("status is 'processing', not one of 'shipped', "
                                          "'in_transit'")
    assert t["auto_answer"]["fields"] == lookup.fields     # attached for the agent
    lookup.fields = {"status": "shipped"}
    await customer_writes(client, ASK_EN, "16505559002")
    t = await ticket_from(client, manager, "16505559002", eventually)
    assert t["auto_answer"]["reason"] == "the lookup's answer lacks eta"

    # a lookup that checks another secret refuses us: routed, and the shop saw no valid call
    calls = len(lookup.requests)
    lookup.secret = "not-the-secret-we-were-given"
    lookup.fields = {"status": "shipped", "eta": "2026-12-05"}
    await customer_writes(client, ASK_EN, "16505559003")
    t = await ticket_from(client, manager, "16505559003", eventually)
    assert t["auto_answer"]["reason"] == "the lookup answered HTTP 401"
    assert lookup.refused == ["signature"] and len(lookup.requests) == calls


async def test_below_the_confidence_gate_the_lookup_is_not_called(
        aiohttp_client: Any, config: Config, redis_url: str, data_dir: Path, lookup: Lookup,
        auth: Callable[..., dict[str, str]], eventually: Callable[..., Any]) -> None:
    client = await aiohttp_client(create_app(config, redis_url, data_dir, run_workers=True))
    body = answer_config(lookup)
    body["gates"]["min_confidence"] = 0.999
    await configure(client, auth, body)
    manager = auth(Role.MANAGER)
    await customer_writes(client, f"订单 {ORDER} 到哪了？还没收到", "8613800138001")
    t = await ticket_from(client, manager, "8613800138001", eventually)
    assert t["auto_answer"]["outcome"] == "routed"
    assert t["auto_answer"]["reason"].startswith("topic confidence ")
    assert "below the gate 0.999" in t["auto_answer"]["reason"]
    assert t["auto_answer"].get("lookup_ms", 0) == 0 and lookup.requests == []


async def test_a_replayed_entry_never_answers_twice(
        aiohttp_client: Any, config: Config, redis_url: str, data_dir: Path, lookup: Lookup,
        aclient: aioredis.Redis, keys: Keys, auth: Callable[..., dict[str, str]],
        eventually: Callable[..., Any]) -> None:
    client = await aiohttp_client(create_app(config, redis_url, data_dir, run_workers=True))
    await configure(client, auth, answer_config(lookup))
    await customer_writes(client, ASK_EN, "16505557777")
    t = await ticket_from(client, auth(Role.MANAGER), "16505557777", eventually)
    assert t["auto_answer"]["outcome"] == "answered"
    first_message = (await aclient.lrange(keys.ticket_msgs(t["id"]), 0, 0))[0].decode()

    # triage ran again on the same message (a crash before its XACK): the stage is fed again;
    # the running stage takes the entry and acknowledges it without a lookup
    store = AutoAnswerStore(aclient, keys)
    await store.feed([(t["id"], first_message)])
    [(fed, fields)] = [(e.decode(), f) for e, f in
                       await aclient.xrevrange(keys.auto_answer_stream, count=1)]

    async def acknowledged() -> bool:
        [group] = await aclient.xinfo_groups(keys.auto_answer_stream)
        return group["last-delivered-id"].decode() == fed and group["pending"] == 0
    await eventually(acknowledged)
    # a worker given the same entry again (say, after its own restart) skips it too
    worker = AutoAnswerWorker(aclient, keys, config, "replay-test")
    async with aiohttp.ClientSession() as session:
        assert await worker.handle(session, fed, fields) == "skipped"
    # and the outcome step itself: the same reply id is a replay, nothing written twice
    [rid] = [r.decode() for r in await aclient.lrange(keys.ticket_replies(t["id"]), 0, -1)]
    reply = await aclient.hget(keys.reply(rid), "json")
    record = decode(await aclient.hget(keys.ticket(t["id"]), "auto_answer"), AutoAnswerRecord)
    outcome = await store.answer(record, decode(reply, OutboundMessage), "{}", "", time.time())
    assert outcome[0] == "replay"
    assert await aclient.llen(keys.ticket_replies(t["id"])) == 1
    assert len(lookup.requests) == 1
    assert (await aclient.xpending(keys.auto_answer_stream, "autoanswer"))["pending"] == 0


@pytest.mark.parametrize("answered,routed,reopened", [(2, 2, 1)])
async def test_deflection_and_reopen_rates_by_hand(
        aiohttp_client: Any, config: Config, redis_url: str, data_dir: Path, lookup: Lookup,
        auth: Callable[..., dict[str, str]], eventually: Callable[..., Any],
        answered: int, routed: int, reopened: int) -> None:
    client = await aiohttp_client(create_app(config, redis_url, data_dir, run_workers=True))
    await configure(client, auth, answer_config(lookup))
    manager = auth(Role.MANAGER)
    ids = [f"1650556{n:04d}" for n in range(answered + routed)]
    for n, wa_id in enumerate(ids):
        lookup.mode = "ok" if n < answered else "500"
        await customer_writes(client, ASK_EN, wa_id)
        await ticket_from(client, manager, wa_id, eventually)
    for wa_id in ids[:reopened]:
        await customer_writes(client, "still not here, not solved", wa_id)
    # a topic without an auto-answer is not eligible and changes nothing
    await customer_writes(client, "I want a refund for the broken blender", "16505569999")

    expected = {"all": "all", "eligible": 4, "answered": 2, "deflection_rate": 0.5,
                "reopened": 1, "reopen_rate": 0.5}

    async def counted() -> Any:
        row = await report(client, manager)
        return row if row == expected else None
    await eventually(counted)


async def test_an_answer_that_cannot_be_delivered_sends_the_ticket_back_to_agents(
        aiohttp_client: Any, config: Config, redis_url: str, data_dir: Path, senders: None,
        lookup: Lookup, whatsapp: StandIn, aclient: aioredis.Redis, keys: Keys,
        auth: Callable[..., dict[str, str]], eventually: Callable[..., Any]) -> None:
    client = await aiohttp_client(create_app(config, redis_url, data_dir, run_workers=True))
    await configure(client, auth, answer_config(lookup))
    whatsapp.default = Scripted(400, WA["bad_recipient"])     # WhatsApp refuses for good
    manager = auth(Role.MANAGER)
    await customer_writes(client, ASK_EN, "16505553333")
    t = await ticket_from(client, manager, "16505553333", eventually)
    assert t["auto_answer"]["outcome"] == "answered"

    async def back() -> Any:
        got = await (await client.get(f"/api/v1/tickets/{t['id']}", headers=manager)).json()
        return got if got["status"] == "open" else None
    got = await eventually(back)
    assert await aclient.zscore(keys.queue(got["skill"]), t["id"]) is not None
    replies = (await (await client.get(f"/api/v1/tickets/{t['id']}/replies",
                                       headers=manager)).json())["replies"]
    assert [r["state"] for r in replies] == ["failed"]
    history = (await (await client.get(f"/api/v1/tickets/{t['id']}/history",
                                       headers=manager)).json())["history"]
    [reopen] = [e for e in history if e["action"] == "reopen"]
    assert reopen["actor"] == "auto"
    assert reopen["detail"].startswith("the automatic answer was not delivered")


async def test_a_second_message_during_the_lookup_leaves_the_ticket_to_agents(
        aiohttp_client: Any, config: Config, redis_url: str, data_dir: Path, lookup: Lookup,
        aclient: aioredis.Redis, keys: Keys, auth: Callable[..., dict[str, str]],
        eventually: Callable[..., Any]) -> None:
    client = await aiohttp_client(create_app(config, redis_url, data_dir, run_workers=True))
    await configure(client, auth, answer_config(lookup, timeout_s=10))
    manager = auth(Role.MANAGER)
    lookup.mode = "hold"
    await customer_writes(client, ASK_EN, "16505552222")
    await eventually(lambda: _true(len(lookup.requests) == 1))
    await customer_writes(client, "Also, can I change the delivery address?", "16505552222")
    t = await ticket_from(client, manager, "16505552222", eventually, decided=False)

    async def both_on_it() -> bool:
        return await aclient.llen(keys.ticket_msgs(t["id"])) == 2
    await eventually(both_on_it)
    lookup.release.set()                      # the lookup answers, the gates pass ...
    t = await ticket_from(client, manager, "16505552222", eventually)
    assert t["auto_answer"]["outcome"] == "routed"        # ... but the new question is an agent's
    assert t["auto_answer"]["reason"] == "the customer wrote again while the lookup ran"
    assert t["auto_answer"]["fields"]["status"] == "shipped" and t["status"] == "open"
    assert await aclient.llen(keys.ticket_replies(t["id"])) == 0



async def test_a_ticket_is_decided_once_whatever_runs_twice(
        aclient: aioredis.Redis, keys: Keys) -> None:
    """Triage replayed a batch, so the stage got the ticket twice, and two workers ran the two
    entries side by side with different luck: whichever outcome is written first stands."""
    store = TicketStore(aclient, keys)
    message = InboundMessage(
        channel=Channel.WHATSAPP, account="waba", external_id=f"wamid.D-{time.time_ns()}",
        sender=Sender((Identity(IdentityKind.PLATFORM, "whatsapp:waba:16505551111"),)),
        received_at=datetime.now(UTC), text=ASK_EN, thread_key="p:16505551111")
    [ctx] = await store.resolve_customers([message], time.time())
    [applied] = await store.apply([Placement(message, ctx.customer_id, triage(), "orders",
                                             time.time())], time.time())
    tid = applied.ticket_id
    ticket = await store.get(tid)
    assert ticket is not None
    aa = AutoAnswerStore(aclient, keys)
    now = datetime.now(UTC)
    routed = AutoAnswerRecord(outcome="routed", config="waba/order_status", at=now,
                              reason="the lookup answered HTTP 500")
    reply = await compose(store, ticket, message, reply_id=reply_id_for(tid, "x"),
                          author="auto", text="shipped")
    answered = AutoAnswerRecord(outcome="answered", config="waba/order_status", at=now,
                                reply_id=reply.reply_id)
    assert await aa.route(tid, routed, "", time.time()) == ("routed", "")
    assert await aa.answer(answered, reply, "{}", "", time.time()) == ("replay", "")
    assert await aa.route(tid, routed, "", time.time()) == ("replay", "")
    decided = [e for e in await AuditLog(aclient, keys).history(tid)
               if e.action == "auto_answer"]
    assert [e.after for e in decided] == ["routed"]
    assert await aclient.llen(keys.ticket_replies(tid)) == 0
    assert (await store.get(tid)).status == "open"        # type: ignore[union-attr]
