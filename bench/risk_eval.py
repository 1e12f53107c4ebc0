"""Risk model quality: per-category precision/recall, and the high-risk flag's, through the full
triage (model + context rules), on
1. a stratified 20 % of the risk corpus (triage/data/risk), the model trained on the other 80 %;
2. tests/triage/data/risk_heldout.csv (written separately, never trained on), with the
   packaged model;
3. tests/triage/data/risk_cases.csv (the older high/not-high cases), with the packaged model.

    .venv/bin/python bench/risk_eval.py [--json]

Prints markdown tables (what triage/README.md shows) and the targets: precision >= 0.9,
recall >= 0.8 for the flag on unseen cases.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import harness
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
HELDOUT = ROOT / "tests" / "triage" / "data" / "risk_heldout.csv"
OLD_CASES = ROOT / "tests" / "triage" / "data" / "risk_cases.csv"
TARGETS = {"precision": 0.9, "recall": 0.8}


def score(triager: Any, rows: Sequence[dict[str, str]]) -> dict[str, Any]:
    """rows: text, labels (';'-separated, '' none), optional tier/contacts."""
    from deskgate.models.triage import TriageInput
    from deskgate.triage.risk import CATEGORIES, parse_labels
    from deskgate.triage.risk_training import report

    inputs = [TriageInput(text=r["text"], customer_tier=r.get("tier") or "standard",
                          recent_contacts=int(r.get("contacts") or 0)) for r in rows]
    results = []
    for at in range(0, len(inputs), 256):
        results += triager.triage(inputs[at:at + 256])
    Y = np.array([[c in parse_labels(r["labels"]) for c in CATEGORIES] for r in rows], bool)
    pred = np.array([[c in {x.name for x in t.risk.categories if x.flagged} for c in CATEGORIES]
                     for t in results], bool)
    P = np.array([[next((x.score for x in t.risk.categories if x.name == c), 0.0)
                   for c in CATEGORIES] for t in results])
    rep = report(Y, pred, P, CATEGORIES)
    high_t = np.array([bool(parse_labels(r["labels"])) or r.get("high") == "1" for r in rows])
    high_p = np.array([t.risk.high for t in results])
    tp = int((high_t & high_p).sum())
    rep["flag_precision"] = round(tp / max(1, int(high_p.sum())), 4)
    rep["flag_recall"] = round(tp / max(1, int(high_t.sum())), 4)
    rep["rows"], rep["positives"] = len(rows), int(high_t.sum())
    rep["misses"] = [f"{r['text'][:70]} [{r.get('labels', '')}]"
                     for r, a, b in zip(rows, high_t, high_p, strict=True) if a and not b][:20]
    rep["false_alarms"] = [f"{r['text'][:70]} -> {'; '.join(t.risk.reasons)[:120]}"
                           for r, t, a, b in zip(rows, results, high_t, high_p, strict=True) if b and not a][:20]
    return rep


def read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def table(name: str, rep: dict[str, Any]) -> str:
    lines = [f"**{name}** — {rep['rows']} messages, {rep['positives']} with a risk: "
             f"flag precision **{rep['flag_precision']:.2f}**, recall **{rep['flag_recall']:.2f}**",
             "", "| category | support | precision | recall | F1 |", "|---|---|---|---|---|"]
    for cat, m in rep["per_class"].items():
        if m["support"] or m["predicted"]:
            lines.append(f"| {cat} | {m['support']} | {m['precision']:.2f} | {m['recall']:.2f} "
                         f"| {m['f1']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print the full reports as JSON")
    args = ap.parse_args()

    from sklearn.model_selection import train_test_split

    from deskgate.triage.engine import Triager
    from deskgate.triage.risk_training import train_risk, training_rows

    packaged = Triager.load()
    corpus = training_rows()
    strata = [c[0] if c else "none" for _, c in corpus]
    train_rows, test_rows = train_test_split(corpus, test_size=0.2, random_state=0,
                                             stratify=strata)
    model = train_risk([t for t, _ in train_rows], [c for _, c in train_rows],
                       pipelines=packaged.pipelines)
    split_triager = Triager({**packaged.models, "risk": model}, rules=packaged.rules,
                            pipelines=packaged.pipelines)
    reports = {"corpus 20 % (trained on the other 80 %)": score(
        split_triager, [{"text": t, "labels": ";".join(c)} for t, c in test_rows])}
    if HELDOUT.is_file():
        reports[f"{HELDOUT.name} (packaged model)"] = score(packaged, read(HELDOUT))
    old = [{**r, "labels": ""} for r in read(OLD_CASES)]
    reports[f"{OLD_CASES.name} (packaged model, flag only)"] = score(packaged, old)
    commit = harness.commit()
    if args.json:
        print(json.dumps({"commit": commit, "corpus_rows": len(corpus), "reports": reports},
                         ensure_ascii=False, indent=2))
        return
    print(f"commit {commit}; corpus {len(corpus)} rows; targets {TARGETS}\n")
    for name, rep in reports.items():
        print(table(name, rep) + "\n")
        for kind in ("misses", "false_alarms"):
            if rep[kind]:
                print(f"{kind}:\n  " + "\n  ".join(rep[kind]) + "\n")


if __name__ == "__main__":
    main()
