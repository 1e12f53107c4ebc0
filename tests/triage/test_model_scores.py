"""Model.decision scores against the vocabulary slots, with dense weights: every score must be
bit for bit what the sparse product over the hashed columns gives (the arithmetic it replaced),
on the packaged training texts, in one large batch and one message at a time."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from deskgate.triage.engine import ALL_TASKS, Triager
from deskgate.triage.features import analyze, hash_features
from deskgate.triage.pipeline import doc_text
from deskgate.triage.text import clean

DATA = Path(__file__).resolve().parents[2] / "triage" / "data"


def _texts(limit: int) -> list[str]:
    out: list[str] = []
    for name in ("seed.csv", "sentiment_team.csv", "risk_background.csv"):
        with (DATA / name).open(encoding="utf-8") as f:
            out += [row["text"] for row in csv.DictReader(f)][: limit // 3]
    return [*out, "", "!!!"]   # no features at all, and no word features


@pytest.mark.parametrize("batch", [600, 1])
def test_scores_are_those_of_the_sparse_product_over_hashed_columns(triager: Triager,
                                                                    batch: int) -> None:
    texts = _texts(600)[: max(batch, 40)]
    for start in range(0, len(texts), batch):
        chunk = texts[start:start + batch]
        docs = triager.pipelines.docs([clean(t, "") for t in chunk], only_words=True)
        raw = hash_features([analyze(d._.dg_words, doc_text(d)) for d in docs])
        for task in ALL_TASKS:
            model = triager.models[task]
            X = model.transform(raw)
            expected = (X @ model.coef.T.tocsr()).toarray() + model.intercept
            got = model.decision(X)
            assert got.dtype == expected.dtype == np.float32
            assert np.array_equal(got.view(np.uint32), expected.view(np.uint32)), task
