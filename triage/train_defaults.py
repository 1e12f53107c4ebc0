"""Reproduce the packaged default models exactly:

    .venv/bin/python -m deskgate.triage.train_defaults [--out triage/default_models]

Data (all committed in this repo, so a fresh checkout reproduces the same bytes):
- triage/data/seed.csv — a bilingual (zh/en) seed set written by the Deskgate team for the
  default taxonomy (order_status, shipping, returns_refunds, billing, account, technical,
  product, complaint, other), each row also labelled with a priority (P1-P4) and a sentiment.
  It is training data only; nothing in it is used for evaluation.
- triage/data/risk/*.csv — the bilingual risk corpus written by the Deskgate team (one file
  per category plus hard negatives: the trigger words used innocently), for the risk model
  (`risk_training.train_risk`). The held-out risk cases in tests/triage/data/ are not in it.

Deliberately NOT used: the data sets in ../shared/datasets. The Chinese review corpora have no
licence for redistribution, the airline tweets and synthetic tickets are non-commercial, and
Banking77 (CC BY 4.0) has a banking taxonomy, not ours. They are used for evaluation only
(`deskgate triage eval`).

Determinism: fixed seed, fixed row order, fixed manifest timestamp (CREATED), uncompressed npz;
the weights and every manifest field but train_seconds come out identical (tested).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from deskgate.triage import artifacts
from deskgate.triage.engine import DEFAULT_MODEL_DIR, TASKS
from deskgate.triage.pipeline import Pipelines
from deskgate.triage.risk import TASK as RISK
from deskgate.triage.risk_training import CORPUS_DIR, train_risk, training_rows
from deskgate.triage.training import train

SEED_CSV = Path(__file__).parent / "data" / "seed.csv"
CREATED = "2026-11-23T00:00:00Z"  # bump when the seed data or the pipeline changes


def read_seed(path: Path = SEED_CSV) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_MODEL_DIR)
    args = ap.parse_args(argv)
    rows = read_seed()
    texts = [r["text"] for r in rows]
    pipelines = Pipelines()
    for task in TASKS:
        model = train(task, texts, [r[task] for r in rows], pipelines=pipelines,
                      data_source=f"triage/data/{SEED_CSV.name} (Deskgate seed set, {len(rows)} rows)")
        man = artifacts.save(model, args.out / task, created=CREATED)
        print(f"{task:10s} {man.version}  {man.metrics}")
    corpus = training_rows()
    files = sorted(p.name for p in CORPUS_DIR.glob("*.csv"))
    model = train_risk([t for t, _ in corpus], [y for _, y in corpus], pipelines=pipelines,
                       data_source=f"triage/data/risk/ ({', '.join(files)}) and the risk-free "
                                   f"rows of {SEED_CSV.name}: {len(corpus)} rows, Deskgate team")
    man = artifacts.save(model, args.out / RISK, created=CREATED)
    print(f"{RISK:10s} {man.version}  oof any-risk precision "
          f"{man.metrics['oof_any_precision']}, recall {man.metrics['oof_any_recall']}")


if __name__ == "__main__":
    main()
