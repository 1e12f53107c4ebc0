"""Retraining at scale: the train job's pipeline (split, train the candidate, compare it with the
current model on the held-out rows) on 200,000 synthesized tickets, timed, with peak memory.

    .venv/bin/python bench/retrain.py [--rows 200000] [--datasets ../shared/datasets]

Rows: real customer texts from the shared data sets (Chinese shop reviews with their 10 product
categories, Banking77 intents folded into 7 topics, airline complaints by reason), drawn with
replacement and made distinct with an order number, so the vocabulary and the class balance
are those of real support traffic. Not committed: the data sets' licences.
Targets (issue 7): under 10 minutes and under 4 GiB on this 2-core machine.
"""

from __future__ import annotations

import argparse
import csv
import random
import resource
import sys
import time
from collections import Counter
from pathlib import Path

from deskgate.gateway.retraining.pipeline import retrain
from deskgate.triage import artifacts
from deskgate.triage.engine import DEFAULT_MODEL_DIR
from deskgate.triage.pipeline import Pipelines

TARGET_SECONDS = 600
TARGET_BYTES = 4 << 30
BANK = {"card": "card", "top": "top_up", "transfer": "transfer", "exchange": "exchange",
        "cash": "cash", "pending": "pending", "refund": "refund"}


def _read(path: Path) -> list[dict[str, str]]:
    csv.field_size_limit(1 << 24)
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def source_rows(datasets: Path) -> list[tuple[str, str]]:
    rows = [(r["text"], "bank_" + BANK.get(r["category"].split("_")[0], "other"))
            for r in _read(datasets / "en/banking77_train.csv")]
    rows += [(r["review"][:400], r["cat"]) for r in _read(datasets / "zh/online_shopping_10_cats.csv")
             if r["review"].strip()]
    rows += [(r["text"], "air_" + (r["negativereason"] or "feedback").split()[0].lower())
             for r in _read(datasets / "en/airline_tweets.csv")]
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--datasets", type=Path,
                    default=Path(__file__).resolve().parents[2] / "shared" / "datasets")
    args = ap.parse_args()
    rng = random.Random(0)
    pool = source_rows(args.datasets)
    rows = []
    for _ in range(args.rows):
        text, label = rng.choice(pool)
        rows.append((f"{text} 订单号 {rng.randrange(10**9, 10**10)}", label))
    print(f"{len(rows)} rows, {len(Counter(y for _, y in rows))} classes", flush=True)
    current = artifacts.load(DEFAULT_MODEL_DIR / "topic", task="topic")
    started = time.perf_counter()
    stages: list[tuple[str, float]] = []
    candidate, comparison = retrain(
        "topic", rows, current, Pipelines(),
        stage=lambda name, pct, msg: stages.append((name, time.perf_counter() - started)))
    took = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    for name, at in stages:
        print(f"  {name:<11} started at {at:7.1f} s")
    cand = comparison["candidate"]
    print(f"held-out rows {comparison['test_rows']}: candidate accuracy {cand['accuracy']:.4f} "
          f"macro-F1 {cand['macro_f1']:.4f} ECE {cand['calibration']['ece']:.4f}")
    print(f"time      {took:8.1f} s    target < {TARGET_SECONDS} s    "
          f"{'OK' if took < TARGET_SECONDS else 'OVER'}")
    print(f"peak RSS  {peak / 2**30:8.2f} GiB  target < {TARGET_BYTES / 2**30:.0f} GiB    "
          f"{'OK' if peak < TARGET_BYTES else 'OVER'}")
    sys.exit(0 if took < TARGET_SECONDS and peak < TARGET_BYTES else 1)


if __name__ == "__main__":
    main()
