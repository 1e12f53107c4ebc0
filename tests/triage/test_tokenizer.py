"""The jieba tokenizer's shortcut for Latin/digit blocks gives jieba's own segmentation."""

from __future__ import annotations

import csv
from pathlib import Path

import jieba

from deskgate.triage.pipeline import cut

DATA = Path(__file__).resolve().parents[2] / "triage" / "data"


def _texts() -> list[str]:
    texts = []
    for path in [DATA / "seed.csv", *sorted((DATA / "risk").glob("*.csv"))]:
        with path.open(encoding="utf-8", newline="") as fh:
            texts += [row["text"] for row in csv.DictReader(fh)]
    return texts + [
        "我的iPhone15 Pro屏幕坏了 please help!!", "T恤 AA制 C++ c# AT&T 3.5mm 100% e-mail a_b",
        "SF1234567890123还没到", "Order #12345 — where is it?", "",
    ]


def test_cut_is_jiebas_segmentation() -> None:
    texts = _texts()
    assert len(texts) > 5000
    for text in texts:
        assert list(cut(text)) == [w for w in jieba.cut(text, cut_all=False, HMM=False) if w], text


def test_no_dictionary_word_is_only_latin_letters_and_digits() -> None:
    # what the shortcut relies on: such a block cannot be split by the dictionary
    jieba.initialize()
    assert not [w for w, f in jieba.dt.FREQ.items() if f and len(w) > 1 and w.isascii() and w.isalnum()]
