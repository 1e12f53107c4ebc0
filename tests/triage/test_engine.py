"""The Triager contract the workers use, and classification sanity on held-out messages."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from deskgate.models.codec import decode, encode
from deskgate.models.enums import Sentiment
from deskgate.models.triage import Triage, TriageInput
from deskgate.triage.engine import Triager
from deskgate.triage.evaluation import read_labelled
from deskgate.triage.pipeline import Pipelines
from deskgate.triage.training import featurize, train

HELDOUT = Path(__file__).parent / "data" / "heldout_topic.csv"
TAXONOMY = {"order_status", "shipping", "returns_refunds", "billing", "account", "technical",
            "product", "complaint", "other"}


def test_default_topic_model_on_heldout_messages(triager: Triager) -> None:
    texts, labels = read_labelled(HELDOUT)
    results = triager.triage([TriageInput(text=t) for t in texts])
    assert {r.topic for r in results} <= TAXONOMY
    accuracy = np.mean([r.topic == y for r, y in zip(results, labels, strict=True)])
    # 36 messages written apart from the seed set, 4 per topic, half Chinese, half English.
    assert accuracy >= 0.7, [(t, r.topic, y) for t, r, y in zip(texts, results, labels, strict=True) if r.topic != y]
    zh = [r.topic == y for t, r, y in zip(texts, results, labels, strict=True) if not t.isascii()]
    en = [r.topic == y for t, r, y in zip(texts, results, labels, strict=True) if t.isascii()]
    assert np.mean(zh) >= 0.6 and np.mean(en) >= 0.6


def test_batch_keeps_order_and_values_roundtrip(triager: Triager) -> None:
    items = [TriageInput(text="App keeps crashing after the update"),
             TriageInput(text="快递三天没更新了，包裹在哪里"),
             TriageInput(text="   "),
             TriageInput(text="<p>I was <b>charged twice</b></p>", subject="Billing problem")]
    out = triager.triage(items)
    assert len(out) == 4
    assert out[0].topic == "technical" and out[0].language == "en"
    assert out[1].topic == "shipping" and out[1].language == "zh"
    assert out[2].topic == "other" and out[2].confidence == 0.0 and out[2].language == "und"
    assert out[3].topic == "billing"
    for t in out:
        assert 0.0 <= t.confidence <= 1.0 and -1.0 <= t.sentiment_score <= 1.0
        assert t.model_version == triager.version
        assert decode(encode(t), Triage) == t


def test_keywords_and_sentiment_are_explained(triager: Triager) -> None:
    t = triager.triage([TriageInput(text="I want a refund, the item is broken")])[0]
    assert t.topic == "returns_refunds"
    assert "refund" in t.topic_keywords
    happy = triager.triage([TriageInput(text="谢谢你们，服务很好，非常满意")])[0]
    assert happy.sentiment is Sentiment.POSITIVE and happy.sentiment_score > 0


def test_quoted_reply_does_not_drive_the_topic(triager: Triager) -> None:
    text = "Thanks, all sorted now!\n\nOn Mon, 3 Jun 2024 at 10:00, Support <s@x.com> wrote:\n> refund refund refund invoice"
    assert triager.triage([TriageInput(text=text)])[0].topic == "other"


def test_train_is_calibrated_and_beats_chance(pipelines: Pipelines) -> None:
    texts, labels = read_labelled(HELDOUT)
    model = train("topic", texts * 3, labels * 3, pipelines=pipelines)
    probs = model.predict_proba(model.transform(featurize(texts, pipelines)))
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert model.info["metrics"]["cv_folds"] == 3
    assert 0.0 < model.temperature < 100.0
    assert model.info["data"]["rows"] == len(texts) * 3


def test_hostile_and_broken_text_is_triaged_not_crashed(triager: Triager) -> None:
    items = [TriageInput(text=t) for t in
             ("\x00\x01", "\ud800 lone surrogate", "?!" * 5000, "$" * 3000, "我" * 20000, "😡" * 10)]
    out = triager.triage(items)
    assert len(out) == len(items)
    assert all(0.0 <= t.confidence <= 1.0 for t in out)


def test_concurrent_batches_give_the_same_results(triager: Triager) -> None:
    # The worker runs triage in threads (asyncio.to_thread); nothing in it may be shared state.
    from concurrent.futures import ThreadPoolExecutor

    texts, _ = read_labelled(HELDOUT)
    items = [TriageInput(text=t) for t in texts * 4]
    expected = triager.triage(items)
    with ThreadPoolExecutor(4) as pool:
        parts = list(pool.map(triager.triage, [items[i:i + 12] for i in range(0, len(items), 12)]))
    assert [t for p in parts for t in p] == expected


def test_the_strings_of_triaged_messages_do_not_pile_up(triager, monkeypatch) -> None:
    """Every order number, name or address a message carries used to stay in spaCy's string
    store for good (~2 KB a message, without bound); now the pipelines are built afresh after
    RENEW_MESSAGES messages, and the results do not depend on which build made them."""
    from deskgate.models.triage import TriageInput
    from deskgate.triage import pipeline

    monkeypatch.setattr(pipeline, "RENEW_MESSAGES", 150)
    monkeypatch.setattr(triager.pipelines, "_renew_left", 0)   # the next batch renews
    texts = [f"订单 DD{n:012d} 还没到，联系人 Zork{n}" for n in range(50)]
    texts += [f"Order A-{n:08d} for Quux{n} never arrived" for n in range(50)]
    triager.triage([TriageInput(text=f"别的 QQ{n} other Blorp{n}") for n in range(50)])
    first = triager.triage([TriageInput(text=t) for t in texts])   # same build: 150 in all
    grown = len(triager.pipelines.zh.vocab.strings) + len(triager.pipelines.en.vocab.strings)
    again = triager.triage([TriageInput(text=t) for t in texts])   # on a fresh build
    assert again == first
    fresh = len(triager.pipelines.zh.vocab.strings) + len(triager.pipelines.en.vocab.strings)
    assert fresh < grown
    for _ in range(3):   # stays bounded
        triager.triage([TriageInput(text=t) for t in texts])
        assert (len(triager.pipelines.zh.vocab.strings)
                + len(triager.pipelines.en.vocab.strings)) <= grown
