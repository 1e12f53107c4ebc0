"""POST /api/v1/messages: durable, idempotent, authenticated, and strict about bad input."""

from __future__ import annotations

import asyncio
from pathlib import Path

from deskgate.gateway.config import Config
from deskgate.gateway.web.app import create_app
from deskgate.models.enums import Role
from deskgate.queue.keys import Keys


async def test_accepts_with_202_and_the_message_is_in_the_stream(client, auth, message, r,
                                                                 prefix) -> None:
    resp = await client.post("/api/v1/messages", json=message("e-1"),
                             headers=auth(Role.INTEGRATION))
    assert resp.status == 202
    body = await resp.json()
    assert body["id"].startswith("m_") and body["duplicate"] is False
    entries = r.xrange(Keys(prefix).ingest)
    assert len(entries) == 1
    assert entries[0][1][b"id"].decode() == body["id"]


async def test_fifty_concurrent_retries_make_one_message(client, auth, message, r,
                                                         prefix) -> None:
    headers = auth(Role.INTEGRATION)
    resps = await asyncio.gather(*(client.post("/api/v1/messages", json=message("same"),
                                               headers=headers) for _ in range(50)))
    statuses = sorted(x.status for x in resps)
    bodies = [await x.json() for x in resps]
    assert statuses.count(202) == 1 and statuses.count(200) == 49
    assert len({b["id"] for b in bodies}) == 1
    assert sum(b["duplicate"] for b in bodies) == 49
    assert r.xlen(Keys(prefix).ingest) == 1


async def test_bad_input_gets_a_clear_error_naming_the_field(client, auth, message) -> None:
    h = auth(Role.INTEGRATION)
    resp = await client.post("/api/v1/messages", data=b"{not json", headers={
        **h, "Content-Type": "application/json"})
    assert resp.status == 400 and "malformed JSON" in (await resp.json())["error"]["message"]
    resp = await client.post("/api/v1/messages", data=b'{"text": "\xff\xfe"}', headers={
        **h, "Content-Type": "application/json"})
    assert resp.status == 400, "invalid UTF-8 inside a JSON string is bad input, not a crash"
    resp = await client.post("/api/v1/messages", data=b"text=hi", headers={
        **h, "Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status == 415
    resp = await client.post("/api/v1/messages", json={"sender": {"email": "a@b.c"}, "text": "x"},
                             headers=h)
    err = (await resp.json())["error"]
    assert resp.status == 422 and "external_id" in err["message"]
    resp = await client.post("/api/v1/messages", json=message("e", sender={"email": 5}),
                             headers=h)
    assert resp.status == 422 and (await resp.json())["error"]["field"] == "sender.email"
    resp = await client.post("/api/v1/messages", json=message("e", sender={"phone": "12"}),
                             headers=h)
    assert resp.status == 422 and (await resp.json())["error"]["field"] == "sender.phone"
    resp = await client.post("/api/v1/messages", json=message("e", text="   "), headers=h)
    assert resp.status == 422 and (await resp.json())["error"]["field"] == "text"
    resp = await client.post("/api/v1/messages", json=message("e", received_at="2026-01-01T00:00"),
                             headers=h)
    assert resp.status == 422 and (await resp.json())["error"]["field"] == "received_at"


async def test_oversized_body_is_413(client, auth, message) -> None:
    resp = await client.post("/api/v1/messages", json=message("big", text="x" * (2 << 20)),
                             headers=auth(Role.INTEGRATION))
    assert resp.status == 413


async def test_tokens_and_roles_are_checked(client, auth, message) -> None:
    resp = await client.post("/api/v1/messages", json=message("a"))
    assert resp.status == 401 and "WWW-Authenticate" in resp.headers
    resp = await client.post("/api/v1/messages", json=message("a"),
                             headers={"Authorization": "Bearer dgt_forged"})
    assert resp.status == 401
    resp = await client.post("/api/v1/messages", json=message("a"),
                             headers=auth(Role.AGENT, "ann"))
    assert resp.status == 403
    resp = await client.get("/api/v1/queues", headers=auth(Role.INTEGRATION))
    assert resp.status == 403
    resp = await client.put("/api/v1/agents/ann", json={"skills": ["general"]},
                            headers=auth(Role.MANAGER))
    assert resp.status == 403
    resp = await client.post("/api/v1/messages", json=message("a"), headers=auth(Role.ADMIN))
    assert resp.status == 202


async def test_redis_down_answers_503_with_retry_after(aiohttp_client, auth, message, prefix,
                                                       tmp_path: Path, caplog) -> None:
    dead = create_app(Config(redis_prefix=prefix), f"unix://{tmp_path}/nothing.sock", tmp_path,
                      run_workers=False)
    c = await aiohttp_client(dead)
    resp = await c.post("/api/v1/messages", json=message("down"), headers=auth(Role.INTEGRATION))
    assert resp.status == 503 and resp.headers["Retry-After"].isdigit()
    resp = await c.get("/healthz")
    # anyone may ask /healthz: a fixed word, not Redis's error text with the socket path
    assert resp.status == 503
    assert await resp.json() == {"status": "unavailable", "redis": "unreachable"}
    assert "nothing.sock" in caplog.text           # the operator still reads it in the log


async def test_openapi_documents_every_api_route(client) -> None:
    resp = await client.get("/api/v1/openapi.json")
    doc = await resp.json()
    assert doc["openapi"].startswith("3.")
    assert "/api/v1/messages" in doc["paths"] and "post" in doc["paths"]["/api/v1/messages"]
    body = doc["paths"]["/api/v1/messages"]["post"]["requestBody"]["content"]
    assert "$ref" in body["application/json"]["schema"]
    assert {"/api/v1/tickets/{ticket_id}", "/api/v1/agents/{agent_id}/claim",
            "/api/v1/queues"} <= set(doc["paths"])


async def test_metrics_are_prometheus_text(client, auth, message) -> None:
    await client.post("/api/v1/messages", json=message("m1"), headers=auth(Role.INTEGRATION))
    text = await (await client.get("/metrics")).text()
    assert 'deskgate_messages_accepted_total{channel="api",duplicate="false"} 1' in text
    assert "# TYPE deskgate_ingest_lag gauge" in text


async def test_accept_survives_redis_forgetting_its_scripts(client, auth, message, r,
                                                            prefix) -> None:
    h = auth(Role.INTEGRATION)
    assert (await client.post("/api/v1/messages", json=message("s1"), headers=h)).status == 202
    r.script_flush()
    resp = await client.post("/api/v1/messages", json=message("s2"), headers=h)
    assert resp.status == 202
    again = await client.post("/api/v1/messages", json=message("s1"), headers=h)
    assert again.status == 200 and (await again.json())["duplicate"] is True
    assert r.xlen(Keys(prefix).ingest) == 2
