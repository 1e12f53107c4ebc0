"""Entities (zh/en, per-account patterns, mapping onto the spaCy Doc) and language detection."""

from __future__ import annotations

import pytest

from deskgate.triage.entities import EntityExtractor, EntityPattern
from deskgate.triage.langid import LanguageDetector
from deskgate.triage.pipeline import Pipelines


def labels_values(ents) -> set[tuple[str, str]]:
    return {(e.label, e.value) for e in ents}


def test_chinese_entities_without_word_boundaries() -> None:
    text = "订单号：123456789012345678 还没发货，顺丰单号SF1234567890123，电话13812345678，退款¥1,299.50，2024年5月1日下单"
    found = EntityExtractor().extract(text, region="CN")
    assert labels_values(found) >= {
        ("ORDER_ID", "123456789012345678"),
        ("TRACKING_NO", "SF:SF1234567890123"),
        ("PHONE", "+8613812345678"),
        ("MONEY", "CNY 1299.50"),
        ("DATE", "2024年5月1日"),
    }
    for e in found:
        assert text[e.start:e.end] == e.text


def test_english_entities() -> None:
    text = ("Order #48213 shipped via UPS 1Z999AA10123456784; call +1 415-555-2671 or mail "
            "Bob.X@Example.com. I paid $59.99 on May 3rd, 2024 for the WH-1000XM4.")
    found = EntityExtractor().extract(text, region="US")
    assert labels_values(found) >= {
        ("ORDER_ID", "48213"), ("TRACKING_NO", "UPS:1Z999AA10123456784"),
        ("PHONE", "+14155552671"), ("EMAIL", "bob.x@example.com"), ("MONEY", "USD 59.99"),
        ("DATE", "May 3rd, 2024"), ("PRODUCT_MODEL", "WH-1000XM4"),
    }


@pytest.mark.parametrize(("text", "model"), [
    ("The iPhone 15 Pro Max won't charge", "iPhone 15 Pro Max"),
    ("我的galaxy s24 ultra屏幕坏了", "galaxy s24 ultra"),
    ("买的Mate 60 Pro充不进电", "Mate 60 Pro"),
    ("my WH-1000XM4 keeps disconnecting", "WH-1000XM4"),
])
def test_product_models(text: str, model: str) -> None:
    assert ("PRODUCT_MODEL", model) in {(e.label, e.text) for e in EntityExtractor().extract(text)}


def test_identifier_inside_a_longer_token_is_not_an_entity() -> None:
    # The fence (?<![A-Za-z0-9]) must stop a tracking pattern firing inside another id.
    found = EntityExtractor().extract("ref XSF1234567890123Y", region="CN")
    assert not [e for e in found if e.label == "TRACKING_NO"]


@pytest.mark.parametrize(("text", "expected"), [
    ("SF1234567890123", {("TRACKING_NO", "SF:SF1234567890123")}),
    ("RR123456789CN", {("TRACKING_NO", "UPU:RR123456789CN")}),
    ("9400111899223856925678", {("TRACKING_NO", "USPS:9400111899223856925678")}),
    ("单号#1234567", {("ORDER_ID", "1234567")}),
    ("订单 123456789012345678", {("ORDER_ID", "123456789012345678")}),
    ("call +44 20 7946 0958", {("PHONE", "+442079460958")}),
    ("$45.50 and 1299元", {("MONEY", "USD 45.50"), ("MONEY", "CNY 1299.00")}),
    ("the WH-1000XM4", {("PRODUCT_MODEL", "WH-1000XM4")}),
    # patterns led by one character class (`_led`), case-insensitive ones in either case
    ("paid hk$100 and Usd 20", {("MONEY", "HKD 100.00"), ("MONEY", "USD 20.00")}),
    ("退rmb300", {("MONEY", "CNY 300.00")}),
    ("ORDER no. A12345", {("ORDER_ID", "A12345")}),
    ("顺丰快递单号：SF1234567890123", {("TRACKING_NO", "SF:SF1234567890123")}),
    ("ems 1234567890", {("TRACKING_NO", "1234567890")}),
    ("my iphone 15 pro", {("PRODUCT_MODEL", "iphone 15 pro")}),
    ("on Sept. 3rd, 2025 or 5th Jan", {("DATE", "Sept. 3rd, 2025"), ("DATE", "5th Jan")}),
    ("来电+86 138 1234 5678或(212) 555-1234", {("PHONE", "+8613812345678"), ("PHONE", "+12125551234")}),
])
def test_fenced_patterns_match_on_their_own(text: str, expected: set[tuple[str, str]]) -> None:
    assert labels_values(EntityExtractor().extract(text, region="US")) == expected


@pytest.mark.parametrize("text", [
    "xSF1234567890123", "aRR123456789CN", "x9400111899223856925678", "a#1234567",
    "a123456789012345678", "a+44 20 7946 0958", "x1299元", "aWH-1000XM4",
    "xiPhone 15", "aSept 3", "x13812345678", "x8613812345678",
])
def test_fenced_patterns_do_not_fire_inside_a_longer_token(text: str) -> None:
    # the fence moved behind the first character so that `re` can skip ahead; it still holds
    assert EntityExtractor().extract(text, region="US") == []


def test_account_patterns_take_precedence() -> None:
    extra = {"shopA": [EntityPattern(label="ORDER_ID", pattern=r"(?<![A-Za-z0-9])SA-\d{6}(?![0-9])",
                                      value="shopA:")]}
    ex = EntityExtractor(extra)
    assert labels_values(ex.extract("我的单 SA-123456 呢", account="shopA")) == {("ORDER_ID", "shopA:SA-123456")}
    assert not [e for e in ex.extract("我的单 SA-123456 呢", account="other") if e.label == "ORDER_ID"]


def test_bad_account_pattern_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="does not compile"):
        EntityExtractor({"a": [EntityPattern(label="X", pattern="(unclosed")]})


def test_entities_are_mapped_onto_the_doc(pipelines: Pipelines) -> None:
    doc = pipelines.docs(["我的订单SF1234567890123还没到"])[0]
    assert [(s.label_, s.text) for s in doc.ents] == [("TRACKING_NO", "SF1234567890123")]
    assert doc._.dg_entities[0].value == "SF:SF1234567890123"


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    return LanguageDetector()


@pytest.mark.parametrize(("text", "lang", "mixed"), [
    ("退款什么时候到账", "zh", False),
    ("Where is my refund?", "en", False),
    ("我的iPhone 15 screen is broken, 要退货", "zh", True),
    ("iPhone 15 充电不了 help", "zh", True),
    ("My order SF1234567890123 has not arrived, 快点", "en", True),
    ("Wo ist meine Bestellung? Ich warte seit einer Woche.", "de", False),
    ("", "und", False),
])
def test_language_detection(detector: LanguageDetector, text: str, lang: str, mixed: bool) -> None:
    got = detector.detect(text)
    assert (got.language, got.mixed) == (lang, mixed)


def test_mixed_text_is_segmented_by_jieba(pipelines: Pipelines) -> None:
    doc = pipelines.docs(["我的iPhone屏幕坏了 please help"])[0]
    assert {"iphone", "屏幕", "please", "help"} <= set(doc._.dg_words)
