"""Articles over real HTTP and Redis: admins create, replace and delete; agents cannot write and
read only published articles; managers read drafts too; bad input gets a clear 4xx; search
ranks and marks matches in Chinese and English as plain text plus offsets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from deskgate.models.enums import Role

RETURNS_ZH = {"title": "如何申请退货退款", "locale": "zh", "status": "published",
              "topic": "returns", "tags": ["退货", "refund"],
              "body": "收到商品七天内可以申请**退货**。退款会在三个工作日内退回原支付账户。"}
PIN_EN = {"title": "Change your PIN", "locale": "en", "status": "published", "topic": "cards",
          "body": "Open Settings, choose *Card*, then Change PIN. Your new PIN works at once."}
DRAFT = {"title": "Holiday shipping times", "locale": "en", "status": "draft",
         "body": "During holidays shipping takes longer."}


async def put_all(client: Any, admin: dict[str, str]) -> None:
    for aid, body in (("returns-zh", RETURNS_ZH), ("pin-en", PIN_EN), ("holiday", DRAFT)):
        resp = await client.put(f"/api/v1/articles/{aid}", headers=admin, json=body)
        assert resp.status == 200, await resp.text()


async def test_crud_and_who_may_do_what(client: Any, auth: Callable[..., dict[str, str]]) -> None:
    admin, agent, manager = auth(Role.ADMIN), auth(Role.AGENT, "ann"), auth(Role.MANAGER)
    await put_all(client, admin)
    assert (await client.put("/api/v1/articles/x", headers=agent, json=PIN_EN)).status == 403
    assert (await client.put("/api/v1/articles/x", headers=manager, json=PIN_EN)).status == 403
    assert (await client.delete("/api/v1/articles/pin-en", headers=agent)).status == 403
    assert (await client.get("/api/v1/articles")).status == 401

    seen = await (await client.get("/api/v1/articles", headers=agent)).json()
    assert {a["id"] for a in seen["articles"]} == {"returns-zh", "pin-en"}
    assert "body" not in seen["articles"][0]
    assert (await client.get("/api/v1/articles/holiday", headers=agent)).status == 404
    full = await (await client.get("/api/v1/articles/holiday", headers=manager)).json()
    assert full["status"] == "draft" and full["faq"] == {"shown": 0, "solved": 0, "unsolved": 0}
    listed = await (await client.get("/api/v1/articles?status=draft", headers=manager)).json()
    assert [a["id"] for a in listed["articles"]] == ["holiday"]
    zh = await (await client.get("/api/v1/articles?locale=zh", headers=manager)).json()
    assert [a["id"] for a in zh["articles"]] == ["returns-zh"]

    replaced = await client.put("/api/v1/articles/holiday", headers=admin,
                                json={**DRAFT, "status": "published", "tags": ["a", "a"]})
    body = await replaced.json()
    assert body["status"] == "published" and body["tags"] == ["a"]
    assert (await client.get("/api/v1/articles/holiday", headers=agent)).status == 200
    assert (await client.delete("/api/v1/articles/holiday", headers=admin)).status == 200
    assert (await client.delete("/api/v1/articles/holiday", headers=admin)).status == 404
    assert (await client.get("/api/v1/articles/holiday", headers=manager)).status == 404


async def test_bad_input_gets_a_clear_error(client: Any,
                                            auth: Callable[..., dict[str, str]]) -> None:
    admin = auth(Role.ADMIN)
    for bad in ({**PIN_EN, "locale": "fr"}, {**PIN_EN, "status": "live"}, {"body": "no title"},
                {**PIN_EN, "title": "  "}, {**PIN_EN, "tags": ["a b"]},
                {**PIN_EN, "extra": 1}, {**PIN_EN, "body": "x" * (64 * 1024 + 1)}):
        resp = await client.put("/api/v1/articles/bad", headers=admin, json=bad)
        assert resp.status == 422, (bad.keys(), await resp.text())
        assert (await resp.json())["error"]["message"]
    assert (await client.put("/api/v1/articles/Bad!", headers=admin, json=PIN_EN)).status == 400
    too_long = await client.get("/api/v1/articles?q=" + "x" * 501, headers=admin)
    assert too_long.status == 400 and "500" in (await too_long.json())["error"]["message"]
    assert (await client.get("/api/v1/articles?locale=fr", headers=admin)).status == 400


async def test_search_ranks_and_marks_in_chinese_and_english(
        client: Any, auth: Callable[..., dict[str, str]], kb: Any) -> None:
    admin, agent = auth(Role.ADMIN), auth(Role.AGENT, "ann")
    await put_all(client, admin)
    zh = await (await client.get("/api/v1/articles", params={"q": "怎么退货"},
                                 headers=agent)).json()
    top = zh["articles"][0]
    assert top["id"] == "returns-zh" and top["score"] > 0 and "退货" in top["why"]["terms"]
    assert [top["title"][s:e] for s, e in top["title_marks"]] == ["退货"]
    snip = top["snippet"]
    assert snip["marks"] and all(snip["text"][s:e] == "退货" for s, e in snip["marks"])

    en = await (await client.get("/api/v1/articles", params={"q": "how to change my pin"},
                                 headers=agent)).json()
    assert [a["id"] for a in en["articles"]] == ["pin-en"]
    marked = {en["articles"][0]["snippet"]["text"][s:e]
              for s, e in en["articles"][0]["snippet"]["marks"]}
    assert marked == {"Change", "PIN"}
    # a draft is never found by an agent, but by the manager who may read it
    assert (await (await client.get("/api/v1/articles", params={"q": "holiday shipping"},
                                    headers=agent)).json())["articles"] == []
    found = await (await client.get("/api/v1/articles", params={"q": "holiday shipping"},
                                    headers=auth(Role.MANAGER))).json()
    assert [a["id"] for a in found["articles"]] == ["holiday"]


async def test_markup_in_an_article_comes_back_as_text(
        client: Any, auth: Callable[..., dict[str, str]], kb: Any) -> None:
    admin = auth(Role.ADMIN)
    hostile = {**PIN_EN, "title": "<img src=x onerror=alert(1)> PIN",
               "body": "<script>alert(1)</script> change PIN"}
    assert (await client.put("/api/v1/articles/h", headers=admin, json=hostile)).status == 200
    found = await (await client.get("/api/v1/articles", params={"q": "pin"},
                                    headers=admin)).json()
    hit = next(a for a in found["articles"] if a["id"] == "h")
    assert hit["title"] == hostile["title"]
    assert hit["snippet"]["text"].startswith("<script>")   # the text as written; the console
    # renders it as text nodes (tests/console) and the API never builds markup from it
