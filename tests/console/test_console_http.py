"""The console's server side over real HTTP: security headers, sign-in, the session accepted
on /api/v1 with CSRF on state changes, bearer tokens unchanged, the token and stats APIs, and
the live event stream."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

import redis

from deskgate.models.enums import Role
from deskgate.queue.keys import Keys

Token = Callable[..., str]
SignIn = Callable[[Any, str], Awaitable[str]]
ANGRY = "I want a refund NOW or my lawyer will sue you. Order DD20240001 never arrived."


def _message(external_id: str, text: str, email: str = "li@example.cn") -> dict[str, Any]:
    return {"external_id": external_id, "sender": {"email": email, "name": "Li"}, "text": text}


async def test_console_page_and_assets_carry_a_strict_policy(client: Any) -> None:
    resp = await client.get("/console/")
    assert resp.status == 200
    assert "text/html" in resp.headers["Content-Type"]
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    page = await resp.text()
    assert "<script type=\"module\" src=\"/console/static/js/app.js\">" in page
    assert "<script>" not in page and " on" + "click=" not in page   # nothing inline to allow
    js = await client.get("/console/static/js/app.js")
    assert js.status == 200 and "javascript" in js.headers["Content-Type"]
    assert js.headers["X-Content-Type-Options"] == "nosniff"
    assert (await client.get("/console/static/../console.py")).status == 404
    redirect = await client.get("/console", allow_redirects=False)
    assert redirect.status == 302 and redirect.headers["Location"] == "/console/"


async def test_sign_in_gives_a_strict_httponly_cookie_and_stores_only_its_hash(
        client: Any, token: Token, r: redis.Redis, prefix: str) -> None:
    resp = await client.post("/console/login", json={"token": token(Role.AGENT, "ann")})
    assert resp.status == 200
    body = await resp.json()
    assert body["role"] == "agent" and body["agent_id"] == "ann" and len(body["csrf"]) > 30
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie            # plain loopback HTTP: a Secure cookie never returns
    session_id = resp.cookies["dg_session"].value
    key = Keys(prefix).session(hashlib.sha256(session_id.encode()).hexdigest())
    assert r.exists(key) and 0 < r.ttl(key) <= 8 * 3600
    assert not any(session_id.encode() in k for k in r.keys(f"{prefix}*"))
    me = await client.get("/console/session")
    assert (await me.json())["csrf"] == body["csrf"]


async def test_sign_in_marks_the_cookie_secure_behind_tls(client: Any, token: Token) -> None:
    resp = await client.post("/console/login", json={"token": token(Role.MANAGER)},
                             headers={"X-Forwarded-Proto": "https"})
    assert "Secure" in resp.headers["Set-Cookie"]


async def test_sign_in_refusals(client: Any, token: Token) -> None:
    bad = await client.post("/console/login", json={"token": "dgt_nope"})
    assert bad.status == 401 and "dg_session" not in bad.cookies
    integration = await client.post("/console/login", json={"token": token(Role.INTEGRATION)})
    assert integration.status == 403
    # a cross-site form can send neither JSON nor our Origin
    form = await client.post("/console/login", data={"token": token(Role.ADMIN)})
    assert form.status == 403
    foreign = await client.post("/console/login", json={"token": token(Role.ADMIN)},
                                headers={"Origin": "https://evil.example"})
    assert foreign.status == 403
    assert (await client.get("/console/session")).status == 401


async def test_a_refused_sign_in_stores_no_session(client: Any, token: Token,
                                                  r: redis.Redis, keys: Keys) -> None:
    def sessions() -> int:
        return len(list(r.scan_iter(match=keys.session("*"))))

    before = sessions()
    for refused in (token(Role.INTEGRATION), "dgt_nope"):
        resp = await client.post("/console/login", json={"token": refused})
        assert resp.status in (401, 403) and "dg_session" not in resp.cookies
    assert sessions() == before
    assert (await client.post("/console/login", json={"token": token(Role.AGENT, "ann")})
            ).status == 200
    assert sessions() == before + 1          # the count does see a stored session


async def test_the_session_works_on_the_api_and_state_changes_need_csrf(
        client: Any, token: Token, sign_in: SignIn) -> None:
    csrf = await sign_in(client, token(Role.MANAGER))
    assert (await client.get("/api/v1/queues")).status == 200
    path = "/api/v1/tickets/DG-404/resolve"
    missing = await client.post(path, json={})
    assert missing.status == 403 and "X-CSRF-Token" in (await missing.json())["error"]["message"]
    wrong = await client.post(path, json={}, headers={"X-CSRF-Token": "x" * 43})
    assert wrong.status == 403
    right = await client.post(path, json={}, headers={"X-CSRF-Token": csrf})
    assert right.status == 404            # past authentication: the ticket does not exist
    # roles still apply to a session exactly as to its token
    assert (await client.get("/api/v1/tokens")).status == 403


async def test_bearer_tokens_work_exactly_as_before(client: Any, token: Token) -> None:
    bearer = {"Authorization": f"Bearer {token(Role.MANAGER)}"}
    ok = await client.post("/api/v1/tickets/DG-404/resolve", json={}, headers=bearer)
    assert ok.status == 404                  # no CSRF needed without a cookie session
    bad = await client.get("/api/v1/queues", headers={"Authorization": "Bearer dgt_wrong"})
    assert bad.status == 401
    none = await client.get("/api/v1/queues")
    assert none.status == 401 and "bearer" in (await none.json())["error"]["message"]


async def test_sign_out_and_revoking_the_token_end_the_session(
        client: Any, token: Token, sign_in: SignIn, aiohttp_client: Any) -> None:
    csrf = await sign_in(client, token(Role.MANAGER))
    refused = await client.post("/console/logout", json={})
    assert refused.status == 403                        # sign-out is a state change too
    out = await client.post("/console/logout", json={}, headers={"X-CSRF-Token": csrf})
    assert out.status == 200
    assert (await client.get("/api/v1/queues")).status == 401

    admin = {"Authorization": f"Bearer {token(Role.ADMIN)}"}
    made = await (await client.post("/api/v1/tokens", json={"role": "manager"},
                                    headers=admin)).json()
    await sign_in(client, made["token"])
    assert (await client.get("/api/v1/queues")).status == 200
    revoked = await client.delete(f"/api/v1/tokens/{made['token_id']}", headers=admin)
    assert revoked.status == 200
    assert (await client.get("/api/v1/queues")).status == 401


async def test_admins_manage_tokens_over_the_api(client: Any, token: Token) -> None:
    admin = {"Authorization": f"Bearer {token(Role.ADMIN)}"}
    resp = await client.post("/api/v1/tokens", headers=admin,
                             json={"role": "agent", "agent_id": "bo", "label": "Bo 博"})
    assert resp.status == 201
    made = await resp.json()
    assert made["token"].startswith("dgt_") and made["role"] == "agent"
    listed = await (await client.get("/api/v1/tokens", headers=admin)).json()
    mine = [t for t in listed["tokens"] if t["token_id"] == made["token_id"]]
    assert mine and mine[0]["label"] == "Bo 博" and "token" not in mine[0]
    works = await client.get("/api/v1/queues", headers={"Authorization": f"Bearer {made['token']}"})
    assert works.status == 200
    no_agent = await client.post("/api/v1/tokens", headers=admin, json={"role": "agent"})
    assert no_agent.status == 422 and (await no_agent.json())["error"]["field"] == "agent_id"
    bad_role = await client.post("/api/v1/tokens", headers=admin, json={"role": "root"})
    assert bad_role.status == 422
    manager = {"Authorization": f"Bearer {token(Role.MANAGER)}"}
    escalate = await client.post("/api/v1/tokens", headers=manager, json={"role": "admin"})
    assert escalate.status == 403
    missing = await client.delete("/api/v1/tokens/ffffffffffff", headers=admin)
    assert missing.status == 404
    spec = await (await client.get("/api/v1/openapi.json")).json()
    assert {"get", "post"} <= set(spec["paths"]["/api/v1/tokens"])
    assert "/api/v1/stats/board" in spec["paths"]


async def test_board_and_volume_follow_the_tickets(
        live: Any, token: Token, eventually: Callable[..., Awaitable[Any]]) -> None:
    admin = {"Authorization": f"Bearer {token(Role.ADMIN)}"}
    intake = {"Authorization": f"Bearer {token(Role.INTEGRATION)}"}
    for skills, agent in ((["logistics", "billing", "general"], "ann"), (["tech"], "bo")):
        assert (await live.put(f"/api/v1/agents/{agent}", json={"skills": skills, "capacity": 3},
                               headers=admin)).status == 200
    for i, text in enumerate([ANGRY, "我的订单 DD123456789 还没发货，物流一直没更新",
                              "How do I reset my password? The login page shows an error."]):
        resp = await live.post("/api/v1/messages", json=_message(f"b{i}", text, f"c{i}@x.cn"),
                               headers=intake)
        assert resp.status == 202

    async def three() -> Any:
        b = await (await live.get("/api/v1/stats/board", headers=admin)).json()
        return b if sum(q["depth"] for q in b["queues"]) == 3 else None
    board = await eventually(three)
    assert all(q["oldest_wait_seconds"] >= 0 for q in board["queues"])
    assert {a["id"]: (a["load"], a["capacity"]) for a in board["agents"]} == \
        {"ann": (0, 3), "bo": (0, 3)}
    assert board["review_total"] == 1
    flagged = board["review"][0]
    assert flagged["status"] == "open" and flagged["reasons"]

    bo = await (await live.get("/api/v1/stats/board", headers={
        "Authorization": f"Bearer {token(Role.AGENT, 'bo')}"})).json()
    assert {q["skill"] for q in bo["queues"]} <= {"tech"}
    assert [a["id"] for a in bo["agents"]] == ["bo"] and bo["review"] == []

    manager = {"Authorization": f"Bearer {token(Role.MANAGER)}"}
    vol = await (await live.get("/api/v1/stats/volume?days=1&bucket=hour",
                                headers=manager)).json()
    assert vol["total"] == 3 and len(vol["buckets"]) == 24
    assert sum(vol["series"]["channel"]["api"]) == 3
    assert sum(sum(v) for v in vol["series"]["topic"].values()) == 3
    assert vol["series"]["channel"]["api"][-1] == 3          # all in the current hour
    bad = await live.get("/api/v1/stats/volume?days=500", headers=manager)
    assert bad.status == 400 and (await bad.json())["error"]["field"] == "days"
    agent = {"Authorization": f"Bearer {token(Role.AGENT, 'bo')}"}
    assert (await live.get("/api/v1/stats/volume", headers=agent)).status == 403


async def test_the_event_stream_pushes_board_changes(
        live: Any, token: Token, sign_in: SignIn) -> None:
    await sign_in(live, token(Role.MANAGER))
    intake = {"Authorization": f"Bearer {token(Role.INTEGRATION)}"}
    resp = await live.get("/console/events")
    assert resp.status == 200 and resp.headers["Content-Type"] == "text/event-stream"

    async def next_board() -> dict[str, Any]:
        while True:
            line = (await resp.content.readline()).decode()
            if line.startswith("data: "):
                return json.loads(line[6:])

    first = await asyncio.wait_for(next_board(), 10)
    assert first["review_total"] == 0
    await live.post("/api/v1/messages", json=_message("e1", ANGRY), headers=intake)
    board = first
    while board["review_total"] == 0:
        board = await asyncio.wait_for(next_board(), 20)
    assert sum(q["depth"] for q in board["queues"]) == 1
    resp.close()


async def test_the_event_stream_needs_a_session(client: Any) -> None:
    assert (await client.get("/console/events")).status == 401
