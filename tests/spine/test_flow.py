"""One message from intake to an agent's hands, with the worker running for real."""

from __future__ import annotations

import asyncio

from deskgate.models.enums import Role
from deskgate.queue.keys import Keys


async def _ticket_of(live, headers, mid, eventually) -> dict:
    async def state():
        resp = await live.get(f"/api/v1/messages/{mid}", headers=headers)
        body = await resp.json()
        return body.get("ticket_id")
    tid = await eventually(state)
    resp = await live.get(f"/api/v1/tickets/{tid}", headers=headers)
    assert resp.status == 200
    return await resp.json()


async def test_message_reaches_an_agents_claim_with_its_triage(live, auth, message,
                                                               eventually) -> None:
    post = await live.post("/api/v1/messages", headers=auth(Role.INTEGRATION), json=message(
        "flow-1", text="URGENT: I was charged twice for invoice INV-2026-0042, refund me now"))
    assert post.status == 202
    mid = (await post.json())["id"]
    manager = auth(Role.MANAGER)
    ticket = await _ticket_of(live, manager, mid, eventually)
    assert ticket["status"] == "open"
    assert ticket["channel"] == "api"
    assert ticket["customer"]["identities"] == [{"kind": "email", "value": "li@example.cn"}]
    tri = ticket["triage"]
    assert {"language", "topic", "priority", "sentiment", "risk", "confidence"} <= set(tri)
    assert tri["language"] == "en"
    assert [m["id"] for m in ticket["messages"]] == [mid]

    async def sla_started():
        t = await (await live.get(f"/api/v1/tickets/{ticket['id']}", headers=manager)).json()
        return t.get("sla")
    sla = await eventually(sla_started)
    assert sla["resolution_due"] > ticket["created_at"] and sla["policy"]

    admin = auth(Role.ADMIN)
    resp = await live.put("/api/v1/agents/ann", headers=admin,
                          json={"skills": [ticket["skill"]], "capacity": 2})
    assert resp.status == 200
    ann = auth(Role.AGENT, "ann")
    claim = await live.post("/api/v1/agents/ann/claim", headers=ann)
    body = await claim.json()
    assert claim.status == 200 and body["ticket"]["id"] == ticket["id"]
    assert body["ticket"]["status"] == "assigned" and body["ticket"]["assignee"] == "ann"
    assert body["ticket"]["triage"]["topic"] == tri["topic"]
    again = await live.post("/api/v1/agents/ann/claim", headers=ann)
    assert (await again.json())["ticket"] is None

    bob = auth(Role.AGENT, "bob")
    assert (await live.post("/api/v1/agents/ann/claim", headers=bob)).status == 403
    resolved = await live.post(f"/api/v1/tickets/{ticket['id']}/resolve", headers=ann,
                               json={"topic": "billing", "priority": "P2"})
    out = await resolved.json()
    assert resolved.status == 200 and out["status"] == "resolved"
    assert out["correction"] == {"topic": "billing", "priority": "P2"}
    assert (await live.post(f"/api/v1/tickets/{ticket['id']}/resolve", headers=ann,
                            json={})).status == 409


async def test_threading_by_thread_key_and_by_customer_channel(live, auth, message,
                                                               eventually) -> None:
    h = auth(Role.INTEGRATION)
    m = auth(Role.MANAGER)
    ids = []
    for ext, extra in (("t1", {"thread_key": "conv-9"}), ("t2", {"thread_key": "conv-9"}),
                       ("t3", {"thread_key": "conv-10"})):
        resp = await live.post("/api/v1/messages", headers=h, json=message(ext, **extra))
        ids.append((await resp.json())["id"])
    t1 = await _ticket_of(live, m, ids[0], eventually)
    t2 = await _ticket_of(live, m, ids[1], eventually)
    t3 = await _ticket_of(live, m, ids[2], eventually)
    assert t1["id"] == t2["id"] != t3["id"]
    assert len(t2["messages"]) == 2
    assert t1["customer"]["id"] == t3["customer"]["id"]  # one customer, two conversations

    a = await live.post("/api/v1/messages", headers=h, json={
        "external_id": "n1", "sender": {"phone": "+8613800000001"}, "text": "在吗"})
    b = await live.post("/api/v1/messages", headers=h, json={
        "external_id": "n2", "sender": {"phone": "13800000001"}, "text": "我的快递还没到"})
    ta = await _ticket_of(live, m, (await a.json())["id"], eventually)
    tb = await _ticket_of(live, m, (await b.json())["id"], eventually)
    assert ta["id"] == tb["id"], "no thread key: same customer and channel threads"


async def test_listing_filters_and_pages(live, auth, message, eventually) -> None:
    h = auth(Role.INTEGRATION)
    m = auth(Role.MANAGER)
    ids = []
    for i in range(5):
        resp = await live.post("/api/v1/messages", headers=h, json=message(
            f"l{i}", text=f"parcel number {i} is late", thread_key=f"c{i}"))
        ids.append((await resp.json())["id"])
    for mid in ids:
        await _ticket_of(live, m, mid, eventually)
    page1 = await (await live.get("/api/v1/tickets?limit=2", headers=m)).json()
    page2 = await (await live.get("/api/v1/tickets?limit=2&offset=2", headers=m)).json()
    assert len(page1["tickets"]) == 2 and page1["more"] is True
    assert not {t["id"] for t in page1["tickets"]} & {t["id"] for t in page2["tickets"]}
    found = await (await live.get("/api/v1/tickets?q=number%203", headers=m)).json()
    assert [t["subject"] for t in found["tickets"]] == ["parcel number 3 is late"]
    none = await (await live.get("/api/v1/tickets?status=resolved", headers=m)).json()
    assert none["tickets"] == []
    bad = await live.get("/api/v1/tickets?status=nope", headers=m)
    assert bad.status == 400


async def test_concurrent_claims_never_hand_out_a_ticket_twice(live, auth, message, r, prefix,
                                                               eventually) -> None:
    h = auth(Role.INTEGRATION)
    for i in range(12):
        await live.post("/api/v1/messages", headers=h, json=message(
            f"cc{i}", thread_key=f"cc{i}", text="where is my order"))
    keys = Keys(prefix)
    await eventually(lambda: asyncio.sleep(0, r.zcard(keys.tickets) == 12))
    skills = [s.decode() for s in r.smembers(keys.skills)]
    admin = auth(Role.ADMIN)
    agents = [f"a{i}" for i in range(8)]
    for a in agents:
        await live.put(f"/api/v1/agents/{a}", headers=admin, json={"skills": skills,
                                                                   "capacity": 3})
    heads = {a: auth(Role.AGENT, a) for a in agents}

    async def claim_all(a: str) -> list[str]:
        got = []
        for _ in range(3):
            body = await (await live.post(f"/api/v1/agents/{a}/claim", headers=heads[a])).json()
            if body.get("ticket"):
                got.append(body["ticket"]["id"])
        return got

    results = await asyncio.gather(*(claim_all(a) for a in agents))
    claimed = [t for got in results for t in got]
    assert len(claimed) == 12 and len(set(claimed)) == 12
    assert all(len(got) <= 3 for got in results)


async def test_api_json_always_carries_every_field(live, auth, message, eventually) -> None:
    """Clients read fields like `risk`, `assignee`, `status` and `capacity` even when they
    hold their default values; none may be left out."""
    resp = await live.post("/api/v1/messages", headers=auth(Role.INTEGRATION),
                           json=message("calm-1", text="Thanks, all good now!"))
    mid = (await resp.json())["id"]
    manager = auth(Role.MANAGER)
    ticket = await _ticket_of(live, manager, mid, eventually)
    assert {"assignee", "correction", "sla"} <= set(ticket)
    assert set(ticket["triage"]["risk"]) == {"high", "score", "reasons", "categories", "urgent"}
    assert {"sentiment_score", "entities", "priority_reasons"} <= set(ticket["triage"])
    await live.put("/api/v1/agents/zoe", headers=auth(Role.ADMIN), json={"skills": ["general"]})
    agent = await (await live.get("/api/v1/agents/zoe", headers=manager)).json()
    assert agent["status"] == "online" and agent["capacity"] == 5
