"""The web-chat FAQ over real HTTP and Redis: a configured account's visitor gets the top 3
published articles for what they typed (the language asked for first; drafts never; only id,
title, plain snippet and score), feedback is counted per article, an unknown account gets 404,
bad input 400/422, and one address past the limit 429 with Retry-After."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from deskgate.models.enums import Role

from .conftest import FAQ_PER_MINUTE

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
    resp = await client.get("/webchat/site/faq", params={"q": "我想退货", "lang": "zh"})
    assert resp.status == 200
    found = (await resp.json())["articles"]
    assert [a["id"] for a in found] == ["returns-zh", "returns-en"]
    assert set(found[0]) == {"id", "title", "snippet", "score"}
    assert "退货" in found[0]["snippet"] and found[0]["score"] > 0
    en = (await (await client.get("/webchat/site/faq", params={"q": "退货", "lang": "en"})
                 ).json())["articles"]
    assert en[0]["id"] == "returns-en"

    for solved in (True, True, False):
        resp = await client.post("/webchat/site/faq/feedback",
                                 json={"article_id": "returns-zh", "solved": solved})
        assert resp.status == 204
    counts = (await (await client.get("/api/v1/articles/returns-zh", headers=admin)
                     ).json())["faq"]
    assert counts == {"shown": 2, "solved": 2, "unsolved": 1}
    draft = await client.post("/webchat/site/faq/feedback",
                              json={"article_id": "returns-draft", "solved": True})
    assert draft.status == 404


async def test_bad_requests_and_unknown_account(client: Any, kb: Any) -> None:
    assert (await client.get("/webchat/nosite/faq", params={"q": "退货"})).status == 404
    assert (await client.post("/webchat/nosite/faq/feedback",
                              json={"article_id": "x", "solved": True})).status == 404
    for params in ({"q": ""}, {"q": "x" * 501}, {"q": "退货", "lang": "fr"}):
        resp = await client.get("/webchat/site/faq", params=params)
        assert resp.status == 400 and (await resp.json())["error"]["message"]
    for body in ({"article_id": "x"}, {"article_id": "x", "solved": "yes"},
                 {"article_id": "../x", "solved": True}):
        assert (await client.post("/webchat/site/faq/feedback", json=body)).status == 422
    broken = await client.post("/webchat/site/faq/feedback", data=b"{not json")
    assert broken.status == 400


async def test_rate_limited_per_address(client: Any, kb: Any) -> None:
    statuses = [(await client.get("/webchat/site/faq", params={"q": "退货"})).status
                for _ in range(FAQ_PER_MINUTE)]
    assert statuses == [200] * FAQ_PER_MINUTE
    limited = await client.post("/webchat/site/faq/feedback",
                                json={"article_id": "returns-zh", "solved": True})
    assert limited.status == 429 and int(limited.headers["Retry-After"]) > 0
    assert "try again" in (await limited.json())["error"]["message"]
