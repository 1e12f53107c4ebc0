"""Suggestion quality on labelled public data: does the retrieval engine (triage/retrieval.py)
put a resolved ticket of the same intent in the top 5?

    .venv/bin/python bench/suggest_quality.py [--datasets ../shared/datasets] [--split dev|held-out|both]

English, Banking77 (77 intents): the train questions are indexed as resolved tickets labelled
by intent; the test questions are the queries. hit@5: at least one of the 5 results has the
query's intent; MRR@10: 1 / rank of the first such result in the top 10 (0 when none).
Chinese, online_shopping_10_cats (10 product categories of shop reviews): a seeded 20,000
reviews are indexed and 2,000 others are the queries; the label is the category (a coarse
proxy: "a review about the same kind of product", not "the same question").

The queries are split in two by a seeded shuffle: `dev` (the half the engine's choices —
stemming, stop words, BM25's k1 and b — were looked at on) and `held-out` (not looked at
while choosing; report it). Each figure is printed beside a plain baseline measured on the same
split in the same run: scikit-learn's TfidfVectorizer (default word tokens; jieba words for
Chinese) with cosine similarity.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from harness import commit, loadavg  # bench/ is sys.path[0]
from sklearn.feature_extraction.text import TfidfVectorizer

from deskgate.triage.pipeline import cut
from deskgate.triage.retrieval import Index

ROOT = Path(__file__).resolve().parent.parent
SEED = 77


def _read(path: Path) -> list[dict[str, str]]:
    csv.field_size_limit(1 << 24)
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def banking77(datasets: Path) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    docs = [(r["text"], r["category"]) for r in _read(datasets / "en/banking77_train.csv")]
    queries = [(r["text"], r["category"]) for r in _read(datasets / "en/banking77_test.csv")]
    return docs, queries


def shopping(datasets: Path) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    rows = [((r.get("review") or "").replace("\ufeff", "").strip(), r["cat"])
            for r in _read(datasets / "zh/online_shopping_10_cats.csv")]
    rows = [r for r in rows if len(r[0]) >= 4]
    random.Random(SEED).shuffle(rows)
    return rows[:20_000], rows[20_000:22_000]


def split(queries: Sequence[tuple[str, str]], which: str) -> list[tuple[str, str]]:
    order = list(range(len(queries)))
    random.Random(SEED).shuffle(order)
    half = len(order) // 2
    picked = order[:half] if which == "dev" else order[half:]
    return [queries[i] for i in sorted(picked)]


def score(ranked: Sequence[Sequence[str]], wanted: Sequence[str]) -> tuple[float, float]:
    """(hit@5, MRR@10) over the queries."""
    hits, rr = 0, 0.0
    for labels, want in zip(ranked, wanted, strict=True):
        if want in labels[:5]:
            hits += 1
        rank = next((i for i, lab in enumerate(labels[:10]) if lab == want), None)
        rr += 0 if rank is None else 1 / (rank + 1)
    return hits / len(wanted), rr / len(wanted)


def ours(docs: Sequence[tuple[str, str]],
         queries: Sequence[tuple[str, str]]) -> tuple[list[list[str]], float]:
    index = Index()
    index.add_many((str(i), text) for i, (text, _) in enumerate(docs))
    t0 = time.perf_counter()
    ranked = [[docs[int(h.key)][1] for h in index.search(q, 10)] for q, _ in queries]
    return ranked, (time.perf_counter() - t0) * 1000 / len(queries)


def baseline(docs: Sequence[tuple[str, str]], queries: Sequence[tuple[str, str]],
             tokenizer: Callable[[str], list[str]] | None) -> list[list[str]]:
    vec = TfidfVectorizer(tokenizer=tokenizer, token_pattern=None if tokenizer else r"(?u)\b\w\w+\b")
    m = vec.fit_transform([t for t, _ in docs])
    q = vec.transform([t for t, _ in queries])
    sims = (q @ m.T).toarray()
    top = np.argsort(-sims, axis=1)[:, :10]
    return [[docs[j][1] for j in row if sims[i, j] > 0] for i, row in enumerate(top)]


def _jieba_words(text: str) -> list[str]:
    return [w for w in cut(text) if w.strip()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", type=Path, default=ROOT.parent / "shared" / "datasets")
    ap.add_argument("--split", choices=("dev", "held-out", "both"), default="both")
    args = ap.parse_args(argv)
    if not (args.datasets / "en/banking77_train.csv").exists():
        print(f"no data sets under {args.datasets}: pass --datasets DIR", file=sys.stderr)
        return 2
    splits = ("dev", "held-out") if args.split == "both" else (args.split,)
    print(f"commit {commit()}; load average {loadavg()}")
    print(f"{'data set':34} {'split':9} {'n':>5}  {'hit@5':>6} {'MRR@10':>6}  "
          f"{'base hit@5':>10} {'base MRR':>8}  {'ms/query':>8}")
    for name, (docs, queries), tok in (
            ("banking77 (en, 77 intents)", banking77(args.datasets), None),
            ("online_shopping (zh, 10 cats)", shopping(args.datasets), _jieba_words)):
        for which in splits:
            qs = split(queries, which)
            ranked, ms = ours(docs, qs)
            h, mrr = score(ranked, [lab for _, lab in qs])
            bh, bmrr = score(baseline(docs, qs, tok), [lab for _, lab in qs])
            print(f"{name:34} {which:9} {len(qs):5}  {h:6.3f} {mrr:6.3f}  {bh:10.3f} "
                  f"{bmrr:8.3f}  {ms:8.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
