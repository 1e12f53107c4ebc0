"""The hand-written risk corpus stays usable: well-formed rows, enough of them, no duplicates.

Guards the files in triage/data/risk/ and the held-out tests/triage/data/risk_heldout.csv as
people keep adding messages: a mislabelled category, a row in the wrong script, or a message
copied (or lightly reworded) between training and held-out would silently inflate the figures.
"""

from __future__ import annotations

import collections
import csv
import unicodedata
from pathlib import Path

import pytest

RISK_DIR = Path(__file__).resolve().parents[2] / "triage" / "data" / "risk"
HELDOUT = Path(__file__).parent / "data" / "risk_heldout.csv"
CATEGORIES = ("legal_regulator", "media_exposure", "safety_injury", "health_food", "fraud_account",
              "privacy_data", "self_harm", "violence_threat", "staff_misconduct", "payment_dispute",
              "churn_high_value")
LANGS = {"zh", "zh-Hant", "en", "mixed"}
STYLES = {"formal", "furious", "sms", "email", "typo"}
NEAR_DUPLICATE = 0.75   # character-trigram Jaccard; reworded copies score above, distinct messages below


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == ["text", "labels", "lang", "style"], path
        return list(reader)


@pytest.fixture(scope="module")
def training() -> dict[str, list[dict[str, str]]]:
    return {p.stem: _read(p) for p in sorted(RISK_DIR.glob("*.csv"))}


@pytest.fixture(scope="module")
def heldout() -> list[dict[str, str]]:
    return _read(HELDOUT)


def _labels(row: dict[str, str]) -> list[str]:
    return row["labels"].split(";") if row["labels"] else []


def test_one_file_per_category_plus_hard_negatives(training: dict[str, list[dict[str, str]]]) -> None:
    assert set(training) == {*CATEGORIES, "hard_negatives"}


def test_rows_are_well_formed(training: dict[str, list[dict[str, str]]],
                              heldout: list[dict[str, str]]) -> None:
    for name, rows in [*training.items(), ("heldout", heldout)]:
        for row in rows:
            labels = _labels(row)
            assert row["text"].strip(), (name, row)
            assert row["lang"] in LANGS and row["style"] in STYLES, (name, row)
            # known categories, each once, in the documented order
            assert labels == [c for c in CATEGORIES if c in labels], (name, row)
            if name == "hard_negatives":
                assert not labels, row
            elif name != "heldout":
                assert name in labels, row


def test_every_category_has_both_language_families(training: dict[str, list[dict[str, str]]],
                                                   heldout: list[dict[str, str]]) -> None:
    for name, rows in training.items():
        families = collections.Counter("en" if r["lang"] == "en" else "zh" for r in rows)
        floor = 300 if name == "hard_negatives" else 150
        assert families["en"] >= floor and families["zh"] >= floor, (name, families)
    carried = collections.Counter(label for row in heldout for label in _labels(row))
    assert all(carried[c] >= 30 for c in CATEGORIES), carried
    assert sum(1 for row in heldout if not row["labels"]) >= 150


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in text if unicodedata.category(ch)[0] not in "PSZ" and not ch.isspace())


def test_no_exact_or_near_duplicates_anywhere(training: dict[str, list[dict[str, str]]],
                                              heldout: list[dict[str, str]]) -> None:
    texts = [r["text"] for rows in training.values() for r in rows] + [r["text"] for r in heldout]
    keys = [_normalise(t) for t in texts]
    exact = [t for t, n in collections.Counter(keys).items() if n > 1]
    assert not exact, exact[:5]
    grams = [{k[i:i + 3] for i in range(max(1, len(k) - 2))} for k in keys]
    index: dict[str, list[int]] = collections.defaultdict(list)
    near = []
    for i, g in enumerate(grams):
        shared = collections.Counter(j for gram in g for j in index[gram])
        near += [(texts[j], texts[i]) for j, n in shared.items()
                 if n / (len(g) + len(grams[j]) - n) >= NEAR_DUPLICATE]
        for gram in g:
            index[gram].append(i)
    assert not near, near[:5]
