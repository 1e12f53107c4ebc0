"""The shared featurizer: what a message's feature strings are."""

from __future__ import annotations

from deskgate.triage.features import VERDICT_SPAN, WINDOW, analyze


def test_words_after_a_contrast_are_also_verdict_features() -> None:
    words = ["房间", "有点", "小", "但是", "很", "干净", "下次", "还", "来"]
    feats = analyze(words, "房间有点小，但是很干净，下次还来")
    assert {"a:很", "a:干净", "a:下次", "a:还", "a:来"} <= set(feats)
    assert not {"a:房间", "a:有点", "a:小", "a:但是"} & set(feats)
    assert {"w:房间", "b:但是 很", "c:干净"} <= set(feats)   # the plain features stay


def test_the_verdict_span_ends() -> None:
    words = ["however"] + [f"w{i}" for i in range(VERDICT_SPAN + 3)]
    verdict = [f for f in analyze(words, " ".join(words)) if f.startswith("a:")]
    assert verdict == [f"a:w{i}" for i in range(VERDICT_SPAN)]


def test_no_marker_no_verdict_features() -> None:
    words = ["the", "parcel", "arrived", "late"]
    assert not [f for f in analyze(words, "the parcel arrived late") if f.startswith("a:")]


def test_char_grams_read_only_the_window() -> None:
    text = "a" * WINDOW + " zzzz"
    assert not [f for f in analyze([], text) if "z" in f]
