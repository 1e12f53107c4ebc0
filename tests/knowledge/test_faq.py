"""The web-chat FAQ over real HTTP and Redis, called as the widget calls it (from the site's
origin): a configured account's visitor gets the top 3 published public articles for what they
typed (the language asked for first; drafts and agents-only articles never, even the best
matches; only id, title, plain snippet and score), can read one (title and body; a draft or an
agents-only one is 404), feedback is counted per article; an article deleted while an answer
is being counted does not break it; CORS
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

PUBLIC = {"status": "published", "audience": "public"}
ARTICLES = {
    "returns-zh": {"title": "如何退货", "locale": "zh", **PUBLIC,
                   "body": "收到商品七天内可申请退货，在订单页点击申请退货。"},
    "returns-en": {"title": "How to return an item", "locale": "en", **PUBLIC,
                   "body": "You can return an item within 7 days: 退货 from the order page."},
    "returns-draft": {"title": "退货新政策（草稿）", "locale": "zh", "status": "draft",
                      "audience": "public", "body": "退货 退货 退货"},
    "pin": {"title": "修改密码", "locale": "zh", **PUBLIC, "body": "在设置中修改密码。"},
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


INTERNAL = {"locale": "zh", "status": "published",
            "body": "退货退款审批上限：客服可直接批准五百元以内的退货退款，超过需主管。退货 退货"}


async def test_agents_only_articles_never_reach_the_faq(
        client: Any, kb: Any, auth: Callable[..., dict[str, str]]) -> None:
    admin = auth(Role.ADMIN)
    await setup_articles(client, admin)
    await client.put("/api/v1/articles/returns-faq", headers=admin,
                     json={"title": "退货常见问题", **PUBLIC, "body": "退货需要保留包装。"})
    # four internal articles that match better than any public one: more than the FAQ shows,
    # so a filter applied after the top 3 would leave nothing
    for n in range(4):
        body = {"title": f"退货内部规定 {n}", **INTERNAL}
        if n:
            body["audience"] = "agents"     # the first says nothing: agents is the default
        resp = await client.put(f"/api/v1/articles/refund-limits-{n}", headers=admin, json=body)
        assert resp.status == 200 and (await resp.json())["audience"] == "agents"

    found = (await (await client.get("/webchat/site/faq", params={"q": "退货 退款 上限",
                                                                   "lang": "zh"},
                                     headers=SITE)).json())["articles"]
    assert sorted(a["id"] for a in found) == ["returns-en", "returns-faq", "returns-zh"]
    assert "上限" not in str(found)
    for path, body in (("/webchat/site/faq/refund-limits-0", None),
                       ("/webchat/site/faq/feedback",
                        {"article_id": "refund-limits-1", "solved": True})):
        resp = await client.request("GET" if body is None else "POST", path, json=body,
                                    headers=SITE)
        # the same answer as for an article that does not exist
        assert resp.status == 404, await resp.text()
        assert (await resp.json())["error"]["message"].startswith("no published article")

    # agents still find them, labelled
    agent = auth(Role.AGENT, "ann")
    searched = (await (await client.get("/api/v1/articles", params={"q": "退货 上限"},
                                        headers=agent)).json())["articles"]
    audience = {a["id"]: a["audience"] for a in searched}
    assert audience["refund-limits-0"] == "agents" and audience["returns-zh"] == "public"
    read = await client.get("/api/v1/articles/refund-limits-0", headers=agent)
    assert read.status == 200 and (await read.json())["audience"] == "agents"
    # made public, it is answered
    resp = await client.put("/api/v1/articles/refund-limits-0", headers=admin,
                            json={"title": "退货内部规定 0", **INTERNAL, "audience": "public"})
    assert resp.status == 200
    assert (await client.get("/webchat/site/faq/refund-limits-0", headers=SITE)).status == 200


async def test_an_article_deleted_while_answering_is_skipped(
        client: Any, kb: Any, auth: Callable[..., dict[str, str]]) -> None:
    """The answer's articles are deleted (for real, and this gateway's index follows) while
    the answer awaits Redis to count them: the visitor still gets 200, not 500."""
    await setup_articles(client, auth(Role.ADMIN))
    count_faq = kb.articles.count_faq

    async def deleted_first(counts: dict[str, str]) -> None:
        for article_id in counts:
            assert await kb.articles.delete(article_id)
        await kb.refresh()
        assert "returns-zh" not in kb.by_id
        await count_faq(counts)

    kb.articles.count_faq = deleted_first
    try:
        resp = await client.get("/webchat/site/faq", params={"q": "退货"}, headers=SITE)
    finally:
        kb.articles.count_faq = count_faq
    assert resp.status == 200, await resp.text()
    assert [a["id"] for a in (await resp.json())["articles"]] == ["returns-zh", "returns-en"]
    resp = await client.get("/webchat/site/faq", params={"q": "退货"}, headers=SITE)
    assert (await resp.json())["articles"] == []
