"""The retrieval engine (triage/retrieval.py) on its own: the right item ranks first in
Chinese, English and mixed text on a small fixed set; highlights mark the query's words at
their offsets; the index updates incrementally (add, replace, remove, the size bound) and
explains a match by shared words and identifiers."""

from __future__ import annotations

import pytest

from deskgate.triage.retrieval import Index, analyze, highlight, snippet, terms

# (question, intent): resolved tickets of a small shop, in both languages
SOLVED = [
    ("My card still hasn't arrived after two weeks", "card_arrival"),
    ("When will my new card be delivered?", "card_arrival"),
    ("I was charged twice for the same purchase", "double_charge"),
    ("Why is there a duplicate charge on my statement?", "double_charge"),
    ("How do I reset my PIN?", "change_pin"),
    ("I forgot my PIN code, can I change it?", "change_pin"),
    ("订单三天了还没有发货，什么时候发？", "shipping_delay"),
    ("我买的东西一直不发货", "shipping_delay"),
    ("收到的耳机是坏的，我要退货退款", "refund"),
    ("商品有质量问题，怎么申请退款？", "refund"),
    ("怎么修改收货地址？", "address"),
    ("下单后可以改地址吗", "address"),
]
# (query, the intent whose ticket must rank first) — none of these texts is indexed
QUERIES = [
    ("still waiting for my card to arrive", "card_arrival"),
    ("there are two charges for one purchase", "double_charge"),
    ("I need to change my PIN", "change_pin"),
    ("已经付款了为什么还不发货", "shipping_delay"),
    ("耳机坏了能退款吗", "refund"),
    ("我想改一下收货地址", "address"),
    ("my 订单 has not 发货 yet", "shipping_delay"),
]


@pytest.fixture(scope="module")
def index() -> Index:
    idx = Index()
    idx.add_many((f"t{i}", text) for i, (text, _) in enumerate(SOLVED))
    return idx


@pytest.mark.parametrize(("query", "intent"), QUERIES)
def test_the_right_item_ranks_first(index: Index, query: str, intent: str) -> None:
    hits = index.search(query, 3)
    assert hits, query
    assert SOLVED[int(hits[0].key[1:])][1] == intent, (query, hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_terms_stem_english_and_segment_chinese() -> None:
    assert terms("Charged charges CHARGING") == ["charg"] * 3
    assert "退货" in terms("我要退货") and "我" not in terms("我要退货")
    assert terms("the of and") == []
    assert terms("ＳＦ１２３４５") == ["sf12345"]       # full-width folds to ASCII


def test_highlight_marks_query_words_at_their_offsets() -> None:
    text = "Refunds take 5 days. A refund goes back to your card."
    marks = highlight(text, "refund my card")
    assert [text[s:e] for s, e in marks] == ["Refunds", "refund", "card"]
    zh = "退货政策：收到商品七天内可以申请退货，退款三个工作日到账。"
    assert [zh[s:e] for s, e in highlight(zh, "怎么退货退款")] == ["退货", "退货", "退款"]


def test_snippet_centres_on_the_matches_and_offsets_are_into_the_snippet() -> None:
    text = "Intro. " * 60 + "To change your PIN, open Settings and choose PIN. " + "End. " * 60
    window, marks = snippet(text, "change pin", width=80)
    assert len(window) <= 80 and marks
    assert {window[s:e].lower() for s, e in marks} == {"change", "pin"}


def test_incremental_add_replace_remove_and_bound() -> None:
    idx = Index(max_docs=3)
    idx.add("a", "card arrived broken")
    idx.add("b", "refund for my order")
    assert [h.key for h in idx.search("refund", 5)] == ["b"]
    idx.add("b", "change my address")                  # replaced, not added twice
    assert idx.search("refund", 5) == [] and len(idx) == 2
    assert [h.key for h in idx.search("address", 5)] == ["b"]
    idx.add("c", "address change please")
    idx.add("d", "new address")                        # over the bound: the oldest ("a") goes
    assert "a" not in idx and len(idx) == 3
    assert idx.search("card broken", 5) == []
    assert idx.remove("c") and not idx.remove("c")
    assert {h.key for h in idx.search("address", 5)} == {"b", "d"}
    assert [h.key for h in idx.search("address", 5, exclude=("b",))] == ["d"]
    assert [h.key for h in idx.search("address", 5, accept=lambda k: k == "b")] == ["b"]


def test_many_updates_compact_and_keep_results() -> None:
    idx = Index()
    for i in range(5000):
        idx.add(f"k{i}", f"question number {i} about topic{i % 50}")
    for i in range(0, 5000, 2):
        idx.remove(f"k{i}")
    hits = idx.search("topic7", 200)
    assert {h.key for h in hits} == {f"k{i}" for i in range(7, 5000, 50)}


def test_explain_names_shared_words_and_identifiers() -> None:
    idx = Index()
    idx.add("x", "订单 SF1234567890123 三天了还没发货")
    why = idx.explain(analyze("订单SF1234567890123怎么还没发货"), "x")
    assert why.entities == ("SF1234567890123",)
    assert set(why.terms) == {"订单", "发货"}


def test_the_gateway_keeps_places_only_for_indexed_tickets() -> None:
    import redis.asyncio as aioredis

    from deskgate.gateway.knowledge import Knowledge
    from deskgate.models.article import Solved
    from deskgate.queue.keys import Keys

    kb = Knowledge(aioredis.Redis(), Keys(), max_tickets=3)   # never connects: no Redis read
    for n in (1, 2, 3, 2, 4, 5):
        kb.add_solved(f"{n}-0", Solved(ticket_id=f"DG-{n}", terms="退货 refund", reply="ok"))
    assert list(kb.places) == ["DG-2", "DG-4", "DG-5"] and len(kb.ticket_index) == 3
    assert kb.places["DG-2"].entry == "2-0"
