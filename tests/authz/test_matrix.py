"""Every route of the OpenAPI document × every role × an object of team alpha and one of team
bravo, over real HTTP with real Redis: the status each caller gets, and that no response body
carries data outside the caller's scope (ids, subjects, addresses, counts, totals).

Team alpha owns the skill "alpha" and is managed by alpha-lead; team bravo owns "bravo". Every
piece of bravo's data carries the word "bravo", every item that maps to no team "orphan", so a
leak shows as a word in a body. The roles: an integration, the agent alpha-agent, alpha-lead,
lone-lead (a manager in no team), a site-wide manager (no manager id) and an admin.

ROUTES must name every route the document lists, with its policy (docs/authorization.md): a
new route fails this test until it gets an entry here."""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
import redis.asyncio as aioredis

from deskgate.connectors.email_config import EmailConfig, ImapConfig
from deskgate.gateway.config import Config, WorkerConfig
from deskgate.gateway.web.api.common import REVIEW_PAGE
from deskgate.models.enums import Channel, IdentityKind, MessageKind, Role
from deskgate.models.message import Identity, InboundMessage, Sender
from deskgate.models.scoring import queue_score
from deskgate.models.sla import SlaConfig, SlaPolicy, Team
from deskgate.queue.keys import Keys
from deskgate.queue.mailbox_state import MailboxState
from deskgate.queue.tickets import Placement, TicketStore
from deskgate.queue.work import Work
from tests.work.conftest import triage

ROLES = ("integration", "agent", "alpha_lead", "lone_lead", "site_manager", "admin")
TEAMS = {"team-alpha": {"skills": ["alpha"], "managers": ["alpha-lead"]},
         "team-bravo": {"skills": ["bravo"], "managers": ["bravo-lead"]}}
SLA = [{"name": "all", "first_response_minutes": 10, "resolution_minutes": 60,
        "business_hours": False}]
_n = itertools.count(1)


@pytest.fixture
def config(prefix: str, free_port: Callable[[], int]) -> Config:
    closed = free_port()       # the pollers find nothing there; quarantine entries are made below
    boxes = tuple(ImapConfig(name=name, host="127.0.0.1", port=closed, user="u", password="p",
                             account=name, tls=False, skill=skill, poll_seconds=3600)
                  for name, skill in (("box-alpha", "alpha"), ("box-bravo", "bravo"),
                                      ("box-orphan", "")))
    return Config(redis_prefix=prefix, workers=WorkerConfig(lease_seconds=600),
                  email=EmailConfig(imap=boxes),
                  sla=SlaConfig(teams={n: Team(skills=tuple(t["skills"]),
                                                 managers=tuple(t["managers"]))
                                         for n, t in TEAMS.items()},
                                  sla=(SlaPolicy(name="all", first_response_minutes=10,
                                                 resolution_minutes=60, business_hours=False),)))


@dataclass
class Pair:
    """One fresh ticket of each team, both high-risk (in review) and held by their agent."""

    a: str
    b: str


@dataclass
class World:
    c: aioredis.Redis
    keys: Keys
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)          # named objects
    alpha_ids: set[str] = field(default_factory=set)           # ticket/message/customer ids
    bravo_ids: set[str] = field(default_factory=set)

    @property
    def store(self) -> TicketStore:
        return TicketStore(self.c, self.keys)

    @property
    def work(self) -> Work:
        return Work(self.c, self.keys, lease_seconds=600)

    async def ticket(self, team: str, *, resolved: bool = False, held: bool = True) -> str:
        n = next(_n)
        now = time.time()
        m = InboundMessage(channel=Channel.API, account="default", external_id=f"{team}-{n}",
                           sender=Sender((Identity(IdentityKind.EMAIL,
                                                   f"cust-{team}-{n}@example.com"),),
                                         name=f"{team} customer"),
                           received_at=datetime.fromtimestamp(now, UTC),
                           text=f"{team} text {n}", subject=f"{team} subject {n}",
                           thread_key=f"{team}-{n}")
        [ctx] = await self.store.resolve_customers([m], now)
        [applied] = await self.store.apply([Placement(
            m, ctx.customer_id, triage(high_risk=True), team,
            queue_score(now, triage().priority, "standard"))], now)
        tid = applied.ticket_id
        if held:
            to_agent = await self.work.act("transfer_agent", tid, "setup", privileged=True,
                                           arg=f"{team}-agent")
            assert to_agent.outcome == "ok", to_agent
        if resolved:
            assert (await self.work.resolve(tid, "setup", privileged=True)).outcome == "ok"
        (self.alpha_ids if team == "alpha" else self.bravo_ids).update(
            {tid, m.id, ctx.customer_id})
        self.ids[f"{team}-ticket"], self.ids[f"{team}-msg"] = tid, m.id
        self.ids[f"{team}-customer"] = ctx.customer_id
        return tid

    async def pair(self, case: Case) -> Pair:
        return Pair(await self.ticket("alpha", resolved=case.resolved),
                    await self.ticket("bravo", resolved=case.resolved))


async def build_world(client: Any, c: aioredis.Redis, keys: Keys,
                      token: Callable[..., str]) -> World:
    w = World(c, keys)
    tokens = {"integration": token(Role.INTEGRATION), "agent": token(Role.AGENT, "alpha-agent"),
              "alpha_lead": token(Role.MANAGER, "alpha-lead"),
              "lone_lead": token(Role.MANAGER, "lone-lead"),
              "site_manager": token(Role.MANAGER), "admin": token(Role.ADMIN)}
    w.headers = {r: {"Authorization": f"Bearer {t}"} for r, t in tokens.items()}
    admin = w.headers["admin"]
    for agent, skill, team in (("alpha-agent", "alpha", "team-alpha"),
                               ("alpha-mate", "alpha", "team-alpha"),
                               ("bravo-agent", "bravo", "team-bravo")):
        resp = await client.put(f"/api/v1/agents/{agent}", headers=admin,
                                json={"skills": [skill], "team": team, "capacity": 100})
        assert resp.status == 200
    # integrations: one message of our integration, one of another (both await triage)
    for name, hdrs in (("own-msg", w.headers["integration"]),
                       ("orphan-msg", {"Authorization": f"Bearer {token(Role.INTEGRATION)}"})):
        resp = await client.post("/api/v1/messages", headers=hdrs, json={
            "external_id": name, "sender": {"email": f"{name}@example.com"},
            "text": f"{name} text", "subject": f"{name} subject"})
        assert resp.status == 202
        w.ids[name] = (await resp.json())["id"]
    # noise (oldest first) and quarantine, one of each team and one of no team
    for team, hint in (("alpha", "alpha"), ("bravo", "bravo"), ("orphan", "")):
        n = next(_n)
        await w.store.record_noise(InboundMessage(
            channel=Channel.EMAIL, account=f"{team}-inbox", external_id=f"noise-{n}",
            sender=Sender((Identity(IdentityKind.EMAIL, f"noise-{team}@example.com"),)),
            received_at=datetime.now(UTC), text=f"{team} out of office", subject=f"{team} ooo",
            kind=MessageKind.AUTO_REPLY, kind_reason="auto-submitted", skill_hint=hint))
        await MailboxState(c, keys).quarantine(f"box-{team}", n, f"{team} unreadable")
    # objects only an admin reaches
    for team in ("alpha", "bravo"):
        resp = await client.put(f"/api/v1/channels/telegram/{team}-bot", headers=admin,
                                json={"secret_token": f"{team}-secret-token-0123456789"})
        assert resp.status == 200, await resp.text()
        spare = await (await client.post("/api/v1/tokens", headers=admin,
                                          json={"role": "agent", "agent_id": f"{team}-spare"})
                       ).json()
        w.ids[f"{team}-token"] = spare["token_id"]
    for o in ("a", "b"):      # macros are not a team's: one per object, for the deletes
        resp = await client.put(f"/api/v1/macros/m-{o}", headers=admin, json={
            "title": "greeting", "zh": "您好 {customer_name}", "en": "Hello {customer_name}"})
        assert resp.status == 200, await resp.text()
        w.ids[f"macro-{o}"] = f"m-{o}"
    for o in ("a", "b"):      # auto-answers are an account's: one per object, for the deletes
        resp = await client.put(f"/api/v1/auto-answers/shop-{o}/order_status", headers=admin,
                                json=AUTO_ANSWER)
    for o in ("a", "b"):      # articles are not a team's either
        resp = await client.put(f"/api/v1/articles/kb-{o}", headers=admin, json={
            "title": "退货说明", "body": "七天内可退货", "status": "published"})
        assert resp.status == 200, await resp.text()
    return w


# --- the table ---------------------------------------------------------------------------

Obj = str       # "a" (team alpha's object) or "b" (team bravo's)


@dataclass
class Case:
    roles: str                                   # who passes the role check, besides admin
    policy: str                                  # gateway/web/scope.py's name for it
    path: Callable[[World, Pair, str, Obj], str] | None = None   # None: the template as is
    body: Any = None
    ok: int = 200                                # status when the caller may do it
    resolved: bool = False                       # the pair's tickets start resolved
    expect: Callable[[str, Obj], int] | None = None   # overrides the policy's rule
    check: Callable[[World, str, Obj, Any], None] | None = None


def _t(w: World, p: Pair, role: str, o: Obj) -> str:
    return p.a if o == "a" else p.b


def ticket_path(suffix: str = "") -> Callable[[World, Pair, str, Obj], str]:
    return lambda w, p, role, o: f"/api/v1/tickets/{_t(w, p, role, o)}{suffix}"


def agent_path(suffix: str = "") -> Callable[[World, Pair, str, Obj], str]:
    return lambda w, p, role, o: f"/api/v1/agents/{'alpha' if o == 'a' else 'bravo'}-agent{suffix}"


def team_path(template: str) -> Callable[[World, Pair, str, Obj], str]:
    return lambda w, p, role, o: template.format(team="alpha" if o == "a" else "bravo")


def sees_both(role: str) -> bool:
    return role in ("site_manager", "admin")


def sees_alpha(role: str) -> bool:
    return role in ("agent", "alpha_lead") or sees_both(role)


def check_tickets(w: World, role: str, o: Obj, body: Any) -> None:
    # ?q=<team>&limit=1: `more` may only count what the caller sees
    mine = (o == "a" and sees_alpha(role)) or sees_both(role)
    assert bool(body["tickets"]) == mine
    assert body["more"] == mine, "more reveals tickets outside the scope"


def check_total(key: str, items: str) -> Callable[[World, str, Obj, Any], None]:
    def check(w: World, role: str, o: Obj, body: Any) -> None:
        if not sees_both(role):
            assert body[key] == len(body[items]), f"{key} counts outside the scope"
    return check


def check_volume(w: World, role: str, o: Obj, body: Any) -> None:
    n_alpha = sum(1 for x in w.alpha_ids if x.startswith("DG-"))
    n_all = n_alpha + sum(1 for x in w.bravo_ids if x.startswith("DG-"))
    assert body["total"] == (n_all if sees_both(role) else n_alpha if sees_alpha(role) else 0)


def check_reports(w: World, role: str, o: Obj, body: Any) -> None:
    expected = {"alpha_lead": ["team-alpha"], "lone_lead": []}.get(role)
    assert body["teams"] == expected
    assert {row[0] for row in body["rows"]} <= set(expected if expected is not None else TEAMS)


def check_first_alpha(key: str) -> Callable[[World, str, Obj, Any], None]:
    # limit=1: the filter applies before the limit, so alpha-lead gets alpha's (older) entry
    def check(w: World, role: str, o: Obj, body: Any) -> None:
        if role == "alpha_lead":
            assert len(body[key]) == 1 and "alpha" in str(body[key])
        if role == "lone_lead":
            assert body[key] == []
    return check


def audit_expect(role: str, o: Obj) -> int:
    if role in ("integration", "agent"):
        return 403
    return 200 if sees_both(role) or (role == "alpha_lead" and o == "a") else 403


def message_path(w: World, p: Pair, role: str, o: Obj) -> str:
    if role == "integration":
        return f"/api/v1/messages/{w.ids['own-msg' if o == 'a' else 'orphan-msg']}"
    return f"/api/v1/messages/{w.ids['alpha-msg' if o == 'a' else 'bravo-msg']}"


# a lookup nobody answers (port 9 refuses): the test call reports it, 200 with ok false
AUTO_ANSWER = {"url": "http://127.0.0.1:9/lookup", "secret": "matrix-lookup-secret-0123",
               "en": "Order {order_number}"}


def aa_path(w: World, p: Pair, r: str, o: Obj) -> str:
    return f"/api/v1/auto-answers/shop-{o}/order_status"


MANAGERS = "manager"
WORKERS = "agent manager"
ROUTES: dict[tuple[str, str], Case] = {
    ("post", "/api/v1/messages"): Case(
        "integration", "intake", ok=202,
        body={"external_id": "matrix-{n}", "sender": {"email": "new@example.com"},
              "text": "hello"}),
    ("get", "/api/v1/messages/{message_id}"): Case(
        "integration agent manager", "message", path=message_path),
    ("get", "/api/v1/noise"): Case(MANAGERS, "filtered", path=lambda *a: "/api/v1/noise?limit=1",
                                   check=check_first_alpha("messages")),
    ("get", "/api/v1/email/quarantine"): Case(
        MANAGERS, "filtered", path=lambda *a: "/api/v1/email/quarantine?limit=1",
        check=check_first_alpha("quarantined")),
    ("get", "/api/v1/tickets"): Case(
        WORKERS, "filtered", check=check_tickets,
        path=lambda w, p, r, o: f"/api/v1/tickets?q={'alpha' if o == 'a' else 'bravo'}&limit=1"),
    ("get", "/api/v1/tickets/{ticket_id}"): Case(WORKERS, "ticket", path=ticket_path()),
    ("post", "/api/v1/tickets/{ticket_id}/resolve"): Case(
        WORKERS, "ticket", path=ticket_path("/resolve"), body={"topic": "billing"}),
    ("get", "/api/v1/queues"): Case(WORKERS, "filtered"),
    ("post", "/api/v1/agents/{agent_id}/claim"): Case("agent", "agent", path=agent_path("/claim")),
    ("put", "/api/v1/agents/{agent_id}"): Case(
        "", "admin", path=agent_path(),
        body={"skills": ["alpha"], "team": "team-alpha", "capacity": 100}),
    ("get", "/api/v1/agents/{agent_id}"): Case(WORKERS, "agent", path=agent_path()),
    ("post", "/api/v1/tickets/{ticket_id}/renew"): Case(WORKERS, "ticket",
                                                         path=ticket_path("/renew")),
    ("post", "/api/v1/tickets/{ticket_id}/release"): Case(WORKERS, "ticket",
                                                           path=ticket_path("/release")),
    ("post", "/api/v1/tickets/{ticket_id}/transfer"): Case(
        WORKERS, "ticket", path=ticket_path("/transfer"), body={"skill": "alpha"}),
    ("post", "/api/v1/tickets/{ticket_id}/notes"): Case(
        WORKERS, "ticket", path=ticket_path("/notes"), body={"text": "a note"}, ok=201),
    ("get", "/api/v1/tickets/{ticket_id}/notes"): Case(WORKERS, "ticket",
                                                        path=ticket_path("/notes")),
    ("post", "/api/v1/tickets/{ticket_id}/respond"): Case(WORKERS, "ticket",
                                                           path=ticket_path("/respond")),
    ("post", "/api/v1/tickets/{ticket_id}/replies"): Case(
        WORKERS, "ticket", path=ticket_path("/replies"), body={"text": "an answer"}, ok=201),
    ("post", "/api/v1/tickets/{ticket_id}/files"): Case(
        WORKERS, "ticket", path=ticket_path("/files?name=label.pdf"), body=b"%PDF-1 label",
        ok=201),
    ("get", "/api/v1/tickets/{ticket_id}/replies"): Case(WORKERS, "ticket",
                                                          path=ticket_path("/replies")),
    ("get", "/api/v1/macros"): Case(WORKERS, "filtered"),
    ("put", "/api/v1/macros/{macro_id}"): Case(
        "", "admin", path=lambda w, p, r, o: f"/api/v1/macros/m-{o}",
        body={"title": "t", "zh": "您好 {customer_name}", "en": "Hi {customer_name}"}),
    ("delete", "/api/v1/macros/{macro_id}"): Case(
        "", "admin", path=lambda w, p, r, o: f"/api/v1/macros/{w.ids['macro-' + o]}"),
    ("get", "/api/v1/auto-answers"): Case("", "admin"),
    ("get", "/api/v1/auto-answers/{account}/{topic}"): Case("", "admin", path=aa_path),
    ("put", "/api/v1/auto-answers/{account}/{topic}"): Case("", "admin", path=aa_path,
                                                            body=AUTO_ANSWER),
    ("delete", "/api/v1/auto-answers/{account}/{topic}"): Case("", "admin", path=aa_path),
    ("post", "/api/v1/auto-answers/{account}/{topic}/test"): Case(
        "", "admin", path=lambda w, p, r, o: f"{aa_path(w, p, r, o)}/test",
        body={"entities": {"ORDER_ID": ["A1"]}}),
    ("get", "/api/v1/tickets/{ticket_id}/macros/{macro_id}"): Case(
        WORKERS, "ticket",
        path=lambda w, p, r, o: f"/api/v1/tickets/{_t(w, p, r, o)}/macros/{w.ids['macro-a']}"),
    ("get", "/api/v1/articles"): Case("agent manager", "filtered"),
    ("get", "/api/v1/articles/{article_id}"): Case(
        "agent manager", "filtered", path=lambda w, p, r, o: f"/api/v1/articles/kb-{o}"),
    ("put", "/api/v1/articles/{article_id}"): Case(
        "", "admin", path=lambda w, p, r, o: f"/api/v1/articles/kb-{o}",
        body={"title": "退货", "body": "七天内可退货"}),
    ("delete", "/api/v1/articles/{article_id}"): Case(
        "", "admin", path=lambda w, p, r, o: f"/api/v1/articles/kb-{o}"),
    ("get", "/api/v1/tickets/{ticket_id}/suggestions"): Case(WORKERS, "ticket",
                                                              path=ticket_path("/suggestions")),
    ("post", "/api/v1/tickets/{ticket_id}/pending"): Case(WORKERS, "ticket",
                                                           path=ticket_path("/pending")),
    ("post", "/api/v1/tickets/{ticket_id}/reopen"): Case(
        WORKERS, "ticket", path=ticket_path("/reopen"), body={"reason": "again"}, resolved=True),
    ("get", "/api/v1/tickets/{ticket_id}/history"): Case(WORKERS, "ticket",
                                                          path=ticket_path("/history")),
    ("get", "/api/v1/agents/{agent_id}/tickets"): Case(WORKERS, "agent",
                                                        path=agent_path("/tickets")),
    ("put", "/api/v1/agents/{agent_id}/status"): Case(
        WORKERS, "agent", path=agent_path("/status"), body={"status": "online"}),
    ("get", "/api/v1/status"): Case(MANAGERS, "filtered"),
    ("get", "/api/v1/review"): Case(MANAGERS, "filtered", check=check_total("total", "items")),
    ("post", "/api/v1/review/{ticket_id}"): Case(
        MANAGERS, "ticket", body={"action": "acknowledge"},
        path=lambda w, p, r, o: f"/api/v1/review/{_t(w, p, r, o)}"),
    ("get", "/api/v1/audit"): Case(
        MANAGERS, "filtered", expect=audit_expect,
        path=lambda w, p, r, o: f"/api/v1/audit?ticket={_t(w, p, r, o)}"),
    ("get", "/api/v1/routing"): Case(MANAGERS, "site-wide"),
    ("put", "/api/v1/routing"): Case("", "admin", body={"default_skill": "alpha"}),
    ("delete", "/api/v1/routing"): Case("", "admin"),
    ("get", "/api/v1/channels"): Case("", "admin"),
    ("put", "/api/v1/channels/{channel}/{account}"): Case(
        "", "admin", path=team_path("/api/v1/channels/telegram/{team}-bot"),
        body={"skill": "alpha"}),
    ("delete", "/api/v1/channels/{channel}/{account}"): Case(
        "", "admin", path=team_path("/api/v1/channels/telegram/{team}-bot")),
    ("get", "/api/v1/sla"): Case("", "admin"),
    ("put", "/api/v1/sla"): Case("", "admin", body={"teams": TEAMS, "sla": SLA}),
    ("delete", "/api/v1/sla"): Case("", "admin"),
    ("get", "/api/v1/stats/board"): Case(WORKERS, "filtered",
                                         check=check_total("review_total", "review")),
    ("get", "/api/v1/stats/volume"): Case(MANAGERS, "filtered", check=check_volume),
    ("get", "/api/v1/reports/{name}"): Case(
        MANAGERS, "filtered", path=lambda *a: "/api/v1/reports/transfers", check=check_reports),
    ("get", "/api/v1/tokens"): Case("", "admin"),
    ("post", "/api/v1/tokens"): Case("", "admin", body={"role": "agent", "agent_id": "x"},
                                     ok=201),
    ("delete", "/api/v1/tokens/{token_id}"): Case(
        "", "admin",
        path=lambda w, p, r, o: f"/api/v1/tokens/{w.ids['alpha-token' if o == 'a' else 'bravo-token']}"),
    ("get", "/api/v1/models/jobs"): Case("", "admin"),
    ("get", "/api/v1/models/jobs/{job_id}"): Case(
        "", "admin", ok=404, path=team_path("/api/v1/models/jobs/{team}-job")),
    ("post", "/api/v1/models/jobs/{job_id}/cancel"): Case(
        "", "admin", ok=404, path=team_path("/api/v1/models/jobs/{team}-job/cancel")),
    ("post", "/api/v1/models/uploads"): Case("", "admin", ok=201, body=b"text,label\nhi,x\n"),
    ("post", "/api/v1/models/import"): Case("", "admin", ok=404,
                                            body={"upload": "none.csv"}),
    ("post", "/api/v1/models/train"): Case("", "admin", ok=202, body={"task": "topic"}),
    ("get", "/api/v1/models"): Case("", "admin"),
    ("get", "/api/v1/models/{task}/{version}"): Case(
        "", "admin", ok=404, path=team_path("/api/v1/models/topic/{team}")),
    ("post", "/api/v1/models/{task}/{version}/evaluate"): Case(
        "", "admin", ok=404, path=team_path("/api/v1/models/topic/{team}/evaluate")),
    ("post", "/api/v1/models/{task}/{version}/promote"): Case(
        "", "admin", ok=404, path=team_path("/api/v1/models/topic/{team}/promote")),
    ("post", "/api/v1/models/{task}/rollback"): Case(
        "", "admin", ok=409, path=lambda *a: "/api/v1/models/topic/rollback"),
}

ROLE_OF = {"integration": "integration", "agent": "agent", "alpha_lead": "manager",
           "lone_lead": "manager", "site_manager": "manager", "admin": "admin"}


def expected(case: Case, role: str, o: Obj) -> int:
    if case.expect is not None:
        return case.expect(role, o)
    if role != "admin" and ROLE_OF[role] not in case.roles.split():
        return 403
    if case.policy == "site-wide":
        return case.ok if sees_both(role) else 403
    if case.policy in ("ticket", "agent"):
        visible = sees_both(role) or (o == "a" and sees_alpha(role))
        return case.ok if visible else 403
    if case.policy == "message":
        visible = sees_both(role) or (o == "a" and role in ("integration", "agent", "alpha_lead"))
        return case.ok if visible else 403
    return case.ok


def forbidden(w: World, role: str) -> tuple[list[str], set[str]]:
    """The words and ids that must not appear in what `role` receives."""
    if sees_both(role):
        return [], set()
    words, ids = ["bravo", "orphan"], set(w.bravo_ids) | {w.ids["orphan-msg"]}
    if role == "agent":
        words.append("alpha-mate")          # an agent sees only their own agent record
    if role in ("lone_lead", "integration"):
        words += ["alpha"]
        ids |= w.alpha_ids
    return words, ids


def assert_no_leak(text: str, words: list[str], ids: set[str], what: str) -> None:
    for word in words:
        assert word not in text, f"{what}: {word!r} leaked: {text[:400]}"
    for i in ids:
        assert not re.search(rf"(?<![\w-]){re.escape(i)}(?![0-9])", text), f"{what}: {i} leaked"


# --- the tests ---------------------------------------------------------------------------

async def test_every_documented_route_has_a_policy_entry(client: Any) -> None:
    doc = await (await client.get("/api/v1/openapi.json")).json()
    documented = {(m, p): op["x-deskgate-policy"] for p, item in doc["paths"].items()
                  for m, op in item.items()}
    assert set(documented) == set(ROUTES), (
        f"routes without a matrix entry: {sorted(set(documented) - set(ROUTES))}; "
        f"entries for no route: {sorted(set(ROUTES) - set(documented))}")
    for route, policy in documented.items():
        assert policy == ROUTES[route].policy, f"{route}: policy {policy}"
        roles = set(doc["paths"][route[1]][route[0]]["description"]
                    .removeprefix("Roles: ").split(", "))
        assert roles == {"admin", *ROUTES[route].roles.split()}, f"{route}: roles {roles}"


@pytest.mark.parametrize("route", sorted(ROUTES), ids=lambda r: f"{r[0]} {r[1]}")
async def test_route_by_role_and_scope(route: tuple[str, str], client: Any, aclient: Any,
                                       keys: Keys, token: Callable[..., str]) -> None:
    method, template = route
    case = ROUTES[route]
    w = await build_world(client, aclient, keys, token)
    pairs = {role: await w.pair(case) for role in ROLES}
    for role in ROLES:
        words, ids = forbidden(w, role)
        for o in ("a", "b"):
            path = case.path(w, pairs[role], role, o) if case.path else template
            kwargs: dict[str, Any] = {}
            if isinstance(case.body, bytes):
                kwargs["data"] = case.body
            elif case.body is not None:
                body = dict(case.body)
                if "external_id" in body:
                    body["external_id"] = f"matrix-{next(_n)}"
                kwargs["json"] = body
            resp = await client.request(method.upper(), path, headers=w.headers[role], **kwargs)
            text = await resp.text()
            what = f"{role} {method.upper()} {path} ({o})"
            assert resp.status == expected(case, role, o), f"{what}: {resp.status} {text[:300]}"
            assert_no_leak(text, words, ids, what)
            if case.check and resp.status < 300:
                case.check(w, role, o, await resp.json())


async def test_customer_listing_counts_only_what_the_caller_sees(
        client: Any, aclient: Any, keys: Keys, token: Callable[..., str]) -> None:
    w = await build_world(client, aclient, keys, token)
    # one customer with a ticket in each team: alpha's agent sees one, never a `more`
    shared = "cust-shared@example.com"
    for team in ("alpha", "bravo", "bravo"):
        n = next(_n)
        now = time.time()
        m = InboundMessage(channel=Channel.API, account="default", external_id=f"s-{n}",
                           sender=Sender((Identity(IdentityKind.EMAIL, shared),)),
                           received_at=datetime.fromtimestamp(now, UTC), text=f"{team} {n}",
                           thread_key=f"s-{n}")
        [ctx] = await w.store.resolve_customers([m], now)
        await w.store.apply([Placement(m, ctx.customer_id, triage(), team, now)], now)
    url = f"/api/v1/tickets?customer={ctx.customer_id}&limit=1"
    mine = await (await client.get(url, headers=w.headers["agent"])).json()
    assert [t["skill"] for t in mine["tickets"]] == ["alpha"] and mine["more"] is False
    second = await (await client.get(url + "&offset=1", headers=w.headers["agent"])).json()
    assert second == {"tickets": [], "offset": 1, "limit": 1, "more": False}
    everyone = await (await client.get(url, headers=w.headers["admin"])).json()
    assert len(everyone["tickets"]) == 1 and everyone["more"] is True


def test_a_route_cannot_be_declared_without_a_policy_or_open_an_admin_policy() -> None:
    from aiohttp import web

    from deskgate.gateway.web.auth import requires
    from deskgate.gateway.web.routes import api_route
    from deskgate.gateway.web.scope import ADMIN

    async def handler(request: web.Request) -> web.Response:
        return web.json_response({})

    with pytest.raises(TypeError):
        requires(Role.MANAGER)(handler)                        # type: ignore[call-arg]
    with pytest.raises(ValueError, match="admin-only"):
        requires(Role.MANAGER, policy=ADMIN)(handler)
    with pytest.raises(ValueError, match="declare roles and a policy"):
        api_route(web.Application(), "GET", "/api/v1/x", handler)


async def test_the_console_stream_shows_a_team_manager_their_team_only(
        client: Any, aclient: Any, keys: Keys, token: Callable[..., str]) -> None:
    w = await build_world(client, aclient, keys, token)
    # more flagged bravo tickets than the board shows, then alpha's: alpha's still count
    for _ in range(REVIEW_PAGE):
        await w.ticket("bravo", held=False)
    for team in ("alpha", "bravo", "alpha"):
        await w.ticket(team)
    everyone = {"alpha-agent", "alpha-mate", "bravo-agent"}
    for role, agents, shown, flagged in (
            ("alpha_lead", {"alpha-agent", "alpha-mate"}, 2, 2), ("lone_lead", set(), 0, 0),
            ("site_manager", everyone, REVIEW_PAGE, REVIEW_PAGE + 3)):
        session_token = w.headers[role]["Authorization"].removeprefix("Bearer ")
        assert (await client.post("/console/login", json={"token": session_token})).status == 200
        stream = await client.get("/console/events")
        assert stream.status == 200
        line = ""
        while not line.startswith("data: "):
            line = (await stream.content.readline()).decode()
        board = json.loads(line[6:])
        stream.close()
        assert {a["id"] for a in board["agents"]} == agents
        assert (len(board["review"]), board["review_total"]) == (shown, flagged)
        if role != "site_manager":
            words, ids = forbidden(w, role)
            assert_no_leak(line, words, ids, f"{role} console stream")


async def test_an_integration_follows_its_own_message_onto_its_ticket_only(
        live: Any, auth: Callable[..., dict[str, str]],
        eventually: Callable[..., Any]) -> None:
    mine, other = auth(Role.INTEGRATION), auth(Role.INTEGRATION)
    post = await live.post("/api/v1/messages", headers=mine, json={
        "external_id": "followed", "sender": {"email": "li@example.cn"},
        "text": "my parcel never arrived"})
    mid = (await post.json())["id"]

    async def ticketed() -> Any:
        body = await (await live.get(f"/api/v1/messages/{mid}", headers=mine)).json()
        return body if body["state"] == "ticketed" else None
    assert (await eventually(ticketed))["ticket_id"].startswith("DG-")
    refused = await live.get(f"/api/v1/messages/{mid}", headers=other)
    assert refused.status == 403 and "DG-" not in await refused.text()
