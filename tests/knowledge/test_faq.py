"""The web-chat FAQ over real HTTP and Redis, called as the widget calls it (from the site's
origin): a configured account's visitor gets the top 3 published articles for what they typed
(the language asked for first; drafts never; only id, title, plain snippet and score), can read
one published article (title and body, never a draft), feedback is counted per article; CORS
only for the account's allowed origins (another origin or none: 403 without CORS headers, the
preflight too); an unknown account gets 404, bad input 400/422, and one address past the limit
429 with Retry-After (which the widget can read: CORS on the error too). Managers list the
counts of every article with stats=faq; agents may not."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from deskgate.models.enums import Role

from .conftest import FAQ_PER_MINUTE, SHOP

SITE = {"Origin": SHOP}

ARTICLES = {
    "returns-zh": {"title": "如何退货", "locale": "zh", "status": "published",
                   "body": "收到商品七天内可申请退货，在订单页点击申请退货。"},
    "returns-en": {"title": "How to return an item", "locale": "en", "status": "published",
                   "body": "You can return an item within 7 days: 退货 from the order page."},
    "returns-draft": {"title": "退货新政策（草稿）", "locale": "zh", "status": "draft",
                      "body": "退货 退货 退货"},
    "pin": {"title": "修改密码", "locale": "zh", "status": "published", "body": "在设置中修改密码。"},
}


async def setup_articles(client: Any, admin: dict[str, str]) -> None:
    for aid, body in ARTICLES.items():
        assert (await client.put(f"/api/v1/articles/{aid}", headers=admin,
                                 json=body)).status == 200


async def test_answers_feedback_and_counts(client: Any, kb: Any,
                                           auth: Callable[..., dict[str, str]]) -> None:
    admin = auth(Role.ADMIN)
    await setup_articles(client, admin)
    resp = await client.get("/webchat/site/faq", params={"q": "我想退货", "lang": "zh"},
                            headers=SITE)
    assert resp.status == 200
    found = (await resp.json())["articles"]
    assert [a["id"] for a in found] == ["returns-zh", "returns-en"]
    assert set(found[0]) == {"id", "title", "snippet", "score"}
    assert "退货" in found[0]["snippet"] and found[0]["score"] > 0
    en = (await (await client.get("/webchat/site/faq", params={"q": "退货", "lang": "en"},
                                    headers=SITE)).json())["articles"]
    assert en[0]["id"] == "returns-en"

    for solved in (True, True, False):
        resp = await client.post("/webchat/site/faq/feedback",
                                 json={"article_id": "returns-zh", "solved": solved}, headers=SITE)
        assert resp.status == 204
    counts = (await (await client.get("/api/v1/articles/returns-zh", headers=admin)
                     ).json())["faq"]
    assert counts == {"shown": 2, "solved": 2, "unsolved": 1}
    # the deflection figures for every article at once, for managers and admins
    listed = await (await client.get("/api/v1/articles", params={"stats": "faq"},
                                     headers=auth(Role.MANAGER))).json()
    faq = {a["id"]: a["faq"] for a in listed["articles"]}
    assert faq["returns-zh"] == counts and faq["returns-en"] == {"shown": 2, "solved": 0,
                                                                 "unsolved": 0}
    assert faq["pin"] == {"shown": 0, "solved": 0, "unsolved": 0}
    searched = await (await client.get("/api/v1/articles", params={"stats": "faq", "q": "退货"},
                                       headers=admin)).json()
    assert {a["id"]: a["faq"]["shown"] for a in searched["articles"]} == {
        "returns-draft": 0, "returns-zh": 2, "returns-en": 2}
    assert "faq" not in (await (await client.get("/api/v1/articles", headers=admin)
                                ).json())["articles"][0]
    agent = await client.get("/api/v1/articles", params={"stats": "faq"}, headers=auth(Role.AGENT, "ann"))
    assert agent.status == 403 and "managers" in (await agent.json())["error"]["message"]
    assert (await client.get("/api/v1/articles", params={"stats": "views"},
                             headers=admin)).status == 400
    draft = await client.post("/webchat/site/faq/feedback",
                              json={"article_id": "returns-draft", "solved": True}, headers=SITE)
    assert draft.status == 404


async def test_bad_requests_and_unknown_account(client: Any, kb: Any) -> None:
    assert (await client.get("/webchat/nosite/faq", params={"q": "退货"},
                             headers=SITE)).status == 404
    assert (await client.post("/webchat/nosite/faq/feedback",
                              json={"article_id": "x", "solved": True}, headers=SITE)).status == 404
    for params in ({"q": ""}, {"q": "x" * 501}, {"q": "退货", "lang": "fr"}):
        resp = await client.get("/webchat/site/faq", params=params, headers=SITE)
        assert resp.status == 400 and (await resp.json())["error"]["message"]
    for body in ({"article_id": "x"}, {"article_id": "x", "solved": "yes"},
                 {"article_id": "../x", "solved": True}):
        resp = await client.post("/webchat/site/faq/feedback", json=body, headers=SITE)
        assert resp.status == 422
    broken = await client.post("/webchat/site/faq/feedback", data=b"{not json", headers=SITE)
    assert broken.status == 400


async def test_rate_limited_per_address(client: Any, kb: Any) -> None:
    statuses = [(await client.get("/webchat/site/faq", params={"q": "退货"}, headers=SITE)
                 ).status
                for _ in range(FAQ_PER_MINUTE)]
    assert statuses == [200] * FAQ_PER_MINUTE
    limited = await client.post("/webchat/site/faq/feedback",
                                json={"article_id": "returns-zh", "solved": True}, headers=SITE)
    assert limited.status == 429 and int(limited.headers["Retry-After"]) > 0
    assert "try again" in (await limited.json())["error"]["message"]
    assert limited.headers["Access-Control-Allow-Origin"] == SHOP


async def test_read_one_article(client: Any, kb: Any, auth: Callable[..., dict[str, str]]) -> None:
    await setup_articles(client, auth(Role.ADMIN))
    resp = await client.get("/webchat/site/faq/returns-zh", headers=SITE)
    assert resp.status == 200
    assert await resp.json() == {"id": "returns-zh", "title": "如何退货",
                                 "body": ARTICLES["returns-zh"]["body"]}
    for aid, status in (("returns-draft", 404), ("nothing-here", 404), ("a%20b", 422)):
        resp = await client.get(f"/webchat/site/faq/{aid}", headers=SITE)
        assert resp.status == status and (await resp.json())["error"]["message"]
        assert resp.headers["Access-Control-Allow-Origin"] == SHOP


async def test_cors_only_for_the_allowed_origin(client: Any, kb: Any,
                                                auth: Callable[..., dict[str, str]]) -> None:
    await setup_articles(client, auth(Role.ADMIN))
    calls = [("GET", "/webchat/site/faq?q=%E9%80%80%E8%B4%A7", None),
             ("GET", "/webchat/site/faq/returns-zh", None),
             ("POST", "/webchat/site/faq/feedback", {"article_id": "returns-zh", "solved": True})]
    for method, path, body in calls:
        ok = await client.request(method, path, json=body, headers=SITE)
        assert ok.status in (200, 204), await ok.text()
        assert ok.headers["Access-Control-Allow-Origin"] == SHOP
        assert ok.headers["Vary"] == "Origin"
        for other in ({"Origin": "https://evil.example.com"}, {"Origin": SHOP + ":8443"}, {}):
            refused = await client.request(method, path, json=body, headers=other)
            assert refused.status == 403
            assert "allowed_origins" in (await refused.json())["error"]["message"]
            assert "Access-Control-Allow-Origin" not in refused.headers
    for path in ("/webchat/site/faq", "/webchat/site/faq/feedback", "/webchat/site/faq/returns-zh"):
        pre = await client.options(path, headers={**SITE,
                                                  "Access-Control-Request-Method": "POST"})
        assert pre.status == 204
        assert pre.headers["Access-Control-Allow-Origin"] == SHOP
        assert "Content-Type" in pre.headers["Access-Control-Allow-Headers"]
        evil = await client.options(path, headers={"Origin": "https://evil.example.com",
                                                   "Access-Control-Request-Method": "POST"})
        assert evil.status == 403 and "Access-Control-Allow-Origin" not in evil.headers
    # refused calls were not counted: only the one allowed question and feedback
    counts = (await (await client.get("/api/v1/articles/returns-zh", headers=auth(Role.ADMIN))
                     ).json())["faq"]
    assert counts["solved"] == 1
