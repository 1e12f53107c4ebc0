"""Articles are analysed once, when written, and their terms stored beside them: an index built
from stored terms ranks exactly as one built from the text; a gateway started against a Redis
holding articles indexes them without analysing any and answers searches as the gateway that
wrote them did; terms of another analyser version or of an older text are analysed again and
stored back; a huge article is indexed by its opening only."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis

from deskgate.gateway.config import Config
from deskgate.gateway.knowledge import KNOWLEDGE, Knowledge, analysed
from deskgate.gateway.web.app import create_app
from deskgate.models.article import Article, ArticleStatus, ArticleTerms, Locale
from deskgate.models.enums import Role
from deskgate.queue.keys import Keys
from deskgate.triage.retrieval import ANALYSER_VERSION, MAX_DOC_CHARS, Index, analyze

ARTICLES = {
    "returns-zh": ("如何申请退货退款", "zh", "收到商品七天内可以申请退货。退款会在三个工作日内退回原支付账户。"),
    "pin-en": ("Change your PIN", "en", "Open Settings, choose Card, then Change PIN. "
               "Your new PIN works at once."),
    "card-en": ("Where is my card?", "en", "A new card arrives within 5 working days. "
                "If your card has not arrived, order DD20260001 can be traced."),
    "ship-zh": ("发货时间", "zh", "订单付款后48小时内发货，节假日顺延。物流单号在订单详情里查看。"),
    "address": ("修改收货地址 change address", "zh", "发货前可以在订单详情里修改收货地址; "
                "after shipping, contact us to change the address."),
}
QUERIES = ["退款多久到账", "I forgot my PIN", "my card has not arrived", "订单什么时候发货",
           "change the 收货地址", "order DD20260001"]


def _article(aid: str, title: str, locale: str, body: str) -> Article:
    return Article(id=aid, title=title, body=body, locale=Locale(locale),
                   status=ArticleStatus.PUBLISHED, tags=("faq",))


def _ranked(index: Index) -> list[list[tuple[str, float]]]:
    return [[(h.key, h.score) for h in index.search(analyze(q), 10)] for q in QUERIES]


def test_an_index_from_stored_terms_ranks_like_one_from_the_text() -> None:
    long_body = "退货政策 " * 3000 + " returns policy"      # past the bound: opening only
    items = [_article(aid, *v) for aid, v in ARTICLES.items()]
    items.append(_article("long", "Returns policy 退货", "zh", long_body))
    from_text, from_terms = Index(), Index()
    from_text.add_many((a.id, a.search_text()) for a in items)
    for a in items:
        stored = msgspec.json.decode(msgspec.json.encode(analysed(a)), type=ArticleTerms)
        from_terms.add_terms(a.id, stored.terms.split())
    ranked = _ranked(from_text)
    assert all(ranked) and ranked == _ranked(from_terms)


async def _search(client: Any, headers: dict[str, str]) -> list[list[tuple[str, float]]]:
    out = []
    for q in QUERIES:
        found = await (await client.get("/api/v1/articles", params={"q": q},
                                        headers=headers)).json()
        out.append([(a["id"], a["score"]) for a in found["articles"]])
    return out


async def _restarted(aiohttp_client: Any, config: Config, redis_url: str, data_dir: Path,
                     eventually: Callable[..., Awaitable[Any]]) -> tuple[Any, Knowledge]:
    """A second gateway on the same Redis, once its first build is done."""
    other = await aiohttp_client(create_app(config, redis_url, data_dir, run_workers=False))
    kb = other.server.app[KNOWLEDGE]

    async def ready() -> bool:
        return kb.ready
    await eventually(ready)
    return other, kb


async def test_a_restarted_gateway_searches_from_stored_terms_with_the_same_results(
        client: Any, aiohttp_client: Any, config: Config, redis_url: str, data_dir: Path,
        auth: Callable[..., dict[str, str]], eventually: Callable[..., Awaitable[Any]],
        caplog: pytest.LogCaptureFixture) -> None:
    admin = auth(Role.ADMIN)
    for aid, (title, locale, body) in ARTICLES.items():
        resp = await client.put(f"/api/v1/articles/{aid}", headers=admin,
                                json={"title": title, "locale": locale, "body": body,
                                      "status": "published", "tags": ["faq"]})
        assert resp.status == 200, await resp.text()
    before = await _search(client, admin)
    assert all(before)

    caplog.set_level(logging.INFO, logger="deskgate.knowledge")
    other, kb = await _restarted(aiohttp_client, config, redis_url, data_dir, eventually)
    assert f"{len(ARTICLES)} articles (0 analysed again)" in caplog.text
    assert await _search(other, admin) == before

    # a delete takes the stored terms with it
    assert (await client.delete("/api/v1/articles/pin-en", headers=admin)).status == 200
    assert "pin-en" not in await kb.articles.terms()


async def test_terms_of_another_analyser_or_an_older_text_are_analysed_again(
        client: Any, aiohttp_client: Any, config: Config, redis_url: str, data_dir: Path,
        r: redis.Redis, keys: Keys, auth: Callable[..., dict[str, str]],
        eventually: Callable[..., Awaitable[Any]], caplog: pytest.LogCaptureFixture) -> None:
    admin = auth(Role.ADMIN)
    for aid, (title, locale, body) in ARTICLES.items():
        await client.put(f"/api/v1/articles/{aid}", headers=admin,
                         json={"title": title, "locale": locale, "body": body,
                               "status": "published", "tags": ["faq"]})
    before = await _search(client, admin)
    good = msgspec.json.decode(r.hget(keys.articles_terms, "card-en"), type=ArticleTerms)
    # an older analyser's terms (deliberately wrong ones), another text's, a record that
    # does not decode, and none at all
    r.hset(keys.articles_terms, "card-en", msgspec.json.encode(
        ArticleTerms(ANALYSER_VERSION - 1, good.digest, "bogus")))
    r.hset(keys.articles_terms, "pin-en", msgspec.json.encode(
        ArticleTerms(ANALYSER_VERSION, "0" * 24, "bogus")))
    r.hset(keys.articles_terms, "ship-zh", b"{not json")
    r.hdel(keys.articles_terms, "address")

    caplog.set_level(logging.INFO, logger="deskgate.knowledge")
    other, _ = await _restarted(aiohttp_client, config, redis_url, data_dir, eventually)
    assert f"{len(ARTICLES)} articles (4 analysed again)" in caplog.text
    assert await _search(other, admin) == before
    stored = msgspec.json.decode(r.hget(keys.articles_terms, "card-en"), type=ArticleTerms)
    assert stored == good and r.hexists(keys.articles_terms, "address")

    # the follower (an article changed elsewhere) analyses a stale record again too
    r.hset(keys.articles_terms, "card-en", msgspec.json.encode(
        ArticleTerms(ANALYSER_VERSION - 1, good.digest, "bogus")))
    r.xadd(keys.articles_log, {"a": "card-en"})
    await eventually(lambda: _restored(r, keys, good))
    assert await _search(other, admin) == before


async def _restored(r: redis.Redis, keys: Keys, good: ArticleTerms) -> bool:
    return msgspec.json.decode(r.hget(keys.articles_terms, "card-en"), type=ArticleTerms) == good


async def test_a_huge_article_is_indexed_by_its_opening(
        client: Any, auth: Callable[..., dict[str, str]]) -> None:
    admin = auth(Role.ADMIN)
    body = "warranty " + "x" * MAX_DOC_CHARS + " zebracorn"
    resp = await client.put("/api/v1/articles/huge", headers=admin,
                            json={"title": "Big manual", "body": body, "status": "published"})
    assert resp.status == 200
    stored = await client.server.app[KNOWLEDGE].articles.terms(["huge"])
    got = stored["huge"].terms.split()
    assert "warranti" in got and "zebracorn" not in got
    found = await (await client.get("/api/v1/articles", params={"q": "warranty"},
                                    headers=admin)).json()
    assert [a["id"] for a in found["articles"]] == ["huge"]
