"""The agent and manager API over real HTTP: actions, role checks, review, audit, the admin
routing table with hot reload, and a signed breach notification received by a real server."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import aiohttp
from aiohttp import web

from deskgate.gateway.config import Config, WorkerConfig
from deskgate.gateway.workers.work_loop import WorkLoop
from deskgate.models.enums import Priority, Role
from deskgate.models.routing import RoutingTable
from deskgate.models.sla import SlaConfig, SlaPolicy, Team
from deskgate.queue.routing import RoutingStore
from deskgate.queue.work import Work
from tests.work.conftest import triage

SECRET = "s3cret-for-the-webhook-0123"


def _config(prefix: str, webhook: str = "") -> Config:
    return Config(redis_prefix=prefix, workers=WorkerConfig(lease_seconds=60), sla=SlaConfig(
        teams={"billing-team": Team(skills=("billing",), managers=("mei",),
                                    webhook_url=webhook, webhook_secret=SECRET if webhook else "",
                                    escalation_skill="escalations"),
               "tech-team": Team(skills=("tech",), managers=("tom",))},
        sla=(SlaPolicy(name="all", first_response_minutes=10, resolution_minutes=60,
                       business_hours=False),)))


async def _agents(client: Any, auth: Any) -> None:
    admin = auth(Role.ADMIN)
    for agent, body in (("ann", {"skills": {"billing": 2}, "capacity": 2, "team": "billing-team"}),
                        ("ben", {"skills": ["billing"], "capacity": 2, "team": "billing-team"}),
                        ("ted", {"skills": ["tech"], "capacity": 2, "team": "tech-team"})):
        assert (await client.put(f"/api/v1/agents/{agent}", headers=admin, json=body)).status == 200


async def test_agent_work_cycle_and_role_checks(make_client, prefix, auth, enqueue) -> None:
    client = await make_client(_config(prefix))
    await _agents(client, auth)
    now = time.time()
    tid = await enqueue("billing", now - 60, Priority.P2)
    ann, ben, ted = (auth(Role.AGENT, a) for a in ("ann", "ben", "ted"))

    claim = await (await client.post("/api/v1/agents/ann/claim", headers=ann)).json()
    assert claim["ticket"]["id"] == tid
    assert (await client.get(f"/api/v1/tickets/{tid}", headers=ted)).status == 403
    assert (await client.get(f"/api/v1/tickets/{tid}", headers=ben)).status == 200
    # only the holder renews or releases
    assert (await client.post(f"/api/v1/tickets/{tid}/renew", headers=ben)).status == 403
    renew = await client.post(f"/api/v1/tickets/{tid}/renew", headers=ann)
    assert renew.status == 200 and (await renew.json())["lease_until"] > now + 50
    note = await client.post(f"/api/v1/tickets/{tid}/notes", headers=ann,
                             json={"text": "客户说订单 DD123 未到，先查物流"})
    assert note.status == 201
    assert (await client.post(f"/api/v1/tickets/{tid}/notes", headers=ann,
                              json={"text": ""})).status == 422
    notes = await (await client.get(f"/api/v1/tickets/{tid}/notes", headers=ben)).json()
    assert [n["text"] for n in notes["notes"]] == ["客户说订单 DD123 未到，先查物流"]
    mine = await (await client.get("/api/v1/agents/ann/tickets", headers=ann)).json()
    assert [t["id"] for t in mine["tickets"]] == [tid]
    assert (await client.get("/api/v1/agents/ann/tickets", headers=ben)).status == 403

    # transfer to ben, then ben transfers it to the tech skill (history kept)
    moved = await client.post(f"/api/v1/tickets/{tid}/transfer", headers=ann, json={"agent": "ben"})
    assert moved.status == 200 and (await moved.json())["assignee"] == "ben"
    bad = await client.post(f"/api/v1/tickets/{tid}/transfer", headers=ben,
                            json={"skill": "bad skill!"})
    assert bad.status == 422 and (await bad.json())["error"]["field"] == "skill"
    to_tech = await client.post(f"/api/v1/tickets/{tid}/transfer", headers=ben,
                                json={"skill": "tech"})
    assert (await to_tech.json())["skill"] == "tech"
    assert (await client.get(f"/api/v1/tickets/{tid}", headers=ted)).status == 200
    got = await (await client.post("/api/v1/agents/ted/claim", headers=ted)).json()
    assert got["ticket"]["id"] == tid
    assert (await client.post(f"/api/v1/tickets/{tid}/release", headers=ted)).status == 200
    again = await (await client.post("/api/v1/agents/ted/claim", headers=ted)).json()
    assert again["ticket"]["id"] == tid
    resolved = await client.post(f"/api/v1/tickets/{tid}/resolve", headers=ted,
                                 json={"topic": "shipping", "sentiment": "negative"})
    assert resolved.status == 200
    reopened = await client.post(f"/api/v1/tickets/{tid}/reopen", headers=ted,
                                 json={"reason": "客户说还没收到"})
    assert reopened.status == 200 and (await reopened.json())["status"] == "open"

    hist = await (await client.get(f"/api/v1/tickets/{tid}/history", headers=ted)).json()
    assert [h["action"] for h in hist["history"]] == [
        "claim", "note", "transfer", "transfer", "claim", "release", "claim", "resolve", "reopen"]
    assert hist["history"][2]["before"] == "assigned:ann" and hist["history"][2]["after"] == "assigned:ben"

    # agent status: away agents claim nothing
    away = await client.put("/api/v1/agents/ann/status", headers=ann, json={"status": "away"})
    assert away.status == 200 and (await away.json())["before"] == "online"
    assert (await client.post("/api/v1/agents/ann/claim", headers=ann)).status == 409
    assert (await client.put("/api/v1/agents/ann/status", headers=ann,
                             json={"status": "asleep"})).status == 422


async def test_manager_review_scope_and_audit(make_client, prefix, auth, enqueue, r,
                                              keys) -> None:
    client = await make_client(_config(prefix))
    await _agents(client, auth)
    now = time.time()
    risky = await enqueue("billing", now, high_risk=True)
    tech_risky = await enqueue("tech", now, high_risk=True)
    mei, tom = auth(Role.MANAGER, "mei"), auth(Role.MANAGER, "tom")
    review = await (await client.get("/api/v1/review", headers=mei)).json()
    assert [i["ticket_id"] for i in review["items"]] == [risky]
    assert "legal" in review["items"][0]["reasons"]
    assert (await client.post(f"/api/v1/review/{tech_risky}", headers=mei,
                              json={"action": "acknowledge"})).status == 403
    assert (await client.get("/api/v1/review", headers=auth(Role.AGENT, "ann"))).status == 403
    fa = await client.post(f"/api/v1/review/{risky}", headers=mei, json={"action": "false_alarm"})
    assert fa.status == 200
    assert r.hget(keys.ticket(risky), "risk_label") == b"false_alarm"
    labels = r.xrange(keys.labels)
    assert [(f[b"ticket"], f[b"value"]) for _, f in labels] == [(risky.encode(), b"false_alarm")]
    esc = await client.post(f"/api/v1/review/{tech_risky}", headers=tom,
                            json={"action": "escalate", "skill": "escalations"})
    assert esc.status == 200
    assert r.hget(keys.ticket(tech_risky), "priority") == b"P2"
    assert r.zscore(keys.queue("escalations"), tech_risky) is not None
    assert (await (await client.get("/api/v1/review", headers=tom)).json())["items"] == []
    # a team manager reads one ticket's audit at a time; the site manager all of it
    assert (await client.get("/api/v1/audit", headers=tom)).status == 403
    site = await (await client.get("/api/v1/audit?action=escalate",
                                   headers=auth(Role.MANAGER))).json()
    assert [(e["ticket"], e["actor"]) for e in site["entries"]] == [(tech_risky, "tom")]
    board = await (await client.get("/api/v1/status", headers=mei)).json()
    assert {q["skill"] for q in board["queues"]} <= {"billing"}
    assert {a["id"] for a in board["agents"]} == {"ann", "ben"}


async def test_routing_admin_api_validates_and_hot_reloads(make_client, prefix, auth,
                                                           aclient, keys) -> None:
    client = await make_client(_config(prefix))
    admin = auth(Role.ADMIN)
    bad = await client.put("/api/v1/routing", headers=admin, data=b"rules:\n  - {skill: billing, priorities: [P9]}\n")
    body = await bad.json()
    assert bad.status == 422 and "P9" in body["error"]["message"]
    assert body["error"]["field"] == "rules[0]"
    loop = await client.put("/api/v1/routing", headers=admin, json={
        "overflow": {"a": {"backup": "b"}, "b": {"backup": "a"}}})
    assert loop.status == 422 and "loops" in (await loop.json())["error"]["message"]
    assert (await client.put("/api/v1/routing", headers=auth(Role.MANAGER),
                             json={})).status == 403
    # a worker's live table, before and after the admin's change
    live = RoutingStore(aclient, keys, RoutingTable())
    t = triage(topic="billing", entities=("ORDER_ID",))
    assert (await live.current(fresh=True)).route(t, channel="api", account="x") == "general"
    ok = await client.put("/api/v1/routing", headers=admin, json={"rules": [
        {"name": "angry orders", "skill": "care", "sentiments": ["negative"],
         "entities": ["ORDER_ID"], "min_level": 2},
        {"skill": "billing", "topics": ["billing"]}]})
    assert ok.status == 200
    table = await live.current(fresh=True)
    assert table.route(t, channel="api", account="x") == "billing"
    angry = triage(topic="billing", entities=("ORDER_ID",), sentiment="negative")
    assert table.route(angry, channel="api", account="x") == "care@2"
    shown = await (await client.get("/api/v1/routing", headers=auth(Role.MANAGER))).json()
    assert shown["source"] == "admin API" and len(shown["table"]["rules"]) == 2
    assert (await client.delete("/api/v1/routing", headers=admin)).status == 200
    assert (await live.current(fresh=True)).rules == ()


async def test_breach_notifies_the_team_webhook_signed(make_client, prefix, auth, enqueue,
                                                       aiohttp_server, aclient, keys) -> None:
    received: list[tuple[dict[str, str], bytes]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append((dict(request.headers), await request.read()))
        return web.json_response({"ok": True})

    hook_app = web.Application()
    hook_app.router.add_post("/hook", hook)
    server = await aiohttp_server(hook_app)
    config = _config(prefix, webhook=str(server.make_url("/hook")))
    loop = WorkLoop(aclient, keys, config, "test-consumer")
    now = time.time()
    tid = await enqueue("billing", now - 3600)
    await loop.sla.start([tid], now - 3600)
    await loop.tick(now)                      # 60 min target: breached at `now`
    async with aiohttp.ClientSession() as session:
        sent = await loop.notifier.deliver(session)
        assert await loop.notifier.deliver(session) == 0      # acknowledged: not sent twice
    assert sent == len(received) == 4        # frt warn + breach, res warn + breach
    headers, body = received[-1]
    expected = hmac.new(SECRET.encode(), headers["X-Deskgate-Timestamp"].encode() + b"." + body,
                        hashlib.sha256).hexdigest()
    assert headers["X-Deskgate-Signature"] == f"sha256={expected}"
    assert b'"event": "sla.breach"' in body and tid.encode() in body
    assert await Work(aclient, keys).queue_depths(["escalations"]) == {"escalations": 1}


def test_the_example_routing_file_is_valid() -> None:
    from pathlib import Path

    import deskgate.gateway.config as gateway_config
    from deskgate.gateway.web.body import decode_document
    from deskgate.models.routing import RoutingTable

    text = (Path(gateway_config.__file__).parent / "config" / "routing.example.yaml").read_bytes()
    table = decode_document(text, RoutingTable, what="the example", max_bytes=len(text))
    assert table.rules[0].min_level == 3 and table.overflow["logistics"].release_load == 0.6
    risky = triage(high_risk=True)
    assert table.route(risky, channel="email", account="x") == "care@3"


def test_the_sla_section_is_read_under_its_new_name_and_its_old_one(caplog) -> None:
    from deskgate.gateway.config import parse_config

    assert parse_config("sla:\n  sweep_seconds: 7").sla.sweep_seconds == 7
    assert "work:" not in caplog.text
    old = parse_config("work:\n  sweep_seconds: 3", "old.yaml")
    assert old.sla.sweep_seconds == 3
    assert "old.yaml: the `work:` section is now called `sla:`" in caplog.text
