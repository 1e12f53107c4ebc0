"""Evaluate triage on every data set in ../shared/datasets with a fixed split, against the strong
baseline (TF-IDF char_wb 1-4 + word 1-2 with jieba -> LogisticRegression C=10) trained on the
same split in the same run, through `deskgate triage eval --baseline`: our difference in
macro-F1 and accuracy with its paired bootstrap 95% interval.

    .venv/bin/python bench/triage_datasets.py [--datasets DIR] [--only NAME] [--classifier svm]

Splits: the given train/test files where a set has them (Banking77), else a stratified 80/20
split with random_state=0, written to bench/results/splits/ (not committed: the data's
licences do not allow redistributing it). Prints one table row per data set and task.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from pathlib import Path

from sklearn.model_selection import train_test_split

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "results" / "splits"
DESKGATE = [sys.executable, "-m", "deskgate.gateway.cli.main"]


def _read(path: Path) -> list[dict[str, str]]:
    csv.field_size_limit(1 << 24)
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return [r for r in csv.DictReader(fh)]


def _write(path: Path, rows: list[dict[str, str]], text_col: str, label_col: str) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label"])
        for r in rows:
            w.writerow([r[text_col], r[label_col]])


def _split(name: str, rows: list[dict[str, str]], text_col: str, label_col: str) -> tuple[Path, Path]:
    rows = [r for r in rows if (r.get(text_col) or "").strip() and (r.get(label_col) or "").strip()]
    tr, te = train_test_split(rows, test_size=0.2, random_state=0,
                              stratify=[r[label_col] for r in rows])
    paths = OUT / f"{name}.train.csv", OUT / f"{name}.test.csv"
    _write(paths[0], tr, text_col, label_col)
    _write(paths[1], te, text_col, label_col)
    return paths


def prepare(datasets: Path) -> list[tuple[str, str, Path, Path]]:
    """(name, task, train, test) for every set and label we evaluate."""
    OUT.mkdir(parents=True, exist_ok=True)
    jobs = []
    bank_tr, bank_te = OUT / "banking77.train.csv", OUT / "banking77.test.csv"
    _write(bank_tr, _read(datasets / "en/banking77_train.csv"), "text", "category")
    _write(bank_te, _read(datasets / "en/banking77_test.csv"), "text", "category")
    jobs.append(("banking77 (en, 77 intents)", "topic", bank_tr, bank_te))

    shop = _read(datasets / "zh/online_shopping_10_cats.csv")
    for r in shop:
        r["review"] = (r.get("review") or "").replace("\ufeff", "")
    jobs.append(("online_shopping (zh, 10 cats)", "topic", *_split("shop_cat", shop, "review", "cat")))
    jobs.append(("online_shopping (zh, sentiment)", "sentiment",
                 *_split("shop_sent", shop, "review", "label")))
    jobs.append(("ChnSentiCorp_htl (zh, sentiment)", "sentiment",
                 *_split("htl", _read(datasets / "zh/ChnSentiCorp_htl_all.csv"), "review", "label")))
    jobs.append(("airline_tweets (en, 3 sentiments)", "sentiment",
                 *_split("airline", _read(datasets / "en/airline_tweets.csv"), "text", "airline_sentiment")))

    seen: set[tuple[str, str]] = set()
    tickets = []
    for f in sorted((datasets / "en/tickets_synthetic").glob("*.csv")):
        for r in _read(f):
            key = (r.get("subject") or "", r.get("body") or "")
            if key in seen or not r.get("priority") or not r.get("queue"):
                continue
            seen.add(key)
            r["text"] = f"{key[0]}\n{key[1]}".strip()
            tickets.append(r)
    jobs.append(("tickets_synthetic (en/de, queue)", "topic", *_split("tickets_queue", tickets, "text", "queue")))
    jobs.append(("tickets_synthetic (en/de, priority)", "priority",
                 *_split("tickets_prio", tickets, "text", "priority")))
    return jobs


def run(name: str, task: str, train: Path, test: Path, classifier: str) -> dict:
    cmd = [*DESKGATE, "triage", "eval", "--train", str(train), "--test", str(test), "--task", task,
           "--json", "--baseline", "--classifier", classifier]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{name}: {' '.join(cmd)} failed:\n{proc.stderr}")
    return json.loads(proc.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", type=Path, default=ROOT.parent / "shared" / "datasets")
    ap.add_argument("--only", default="", help="run only sets whose name contains this")
    ap.add_argument("--classifier", choices=("svm", "logreg"), default="svm")
    args = ap.parse_args()
    print("target: macro-F1 at least +2 points over the strong baseline on data not tuned on")
    print(f"{'data set':36s} {'task':9s} {'train':>6s} {'test':>6s} | {'ours acc':>8s} {'mF1':>6s} | "
          f"{'base acc':>8s} {'mF1':>6s} | {'Δ macro-F1 [95% CI]':>22s} {'Δ acc [95% CI]':>22s} | chosen")
    for name, task, train, test in prepare(args.datasets):
        if args.only and args.only not in name:
            continue
        rep = run(name, task, train, test, args.classifier)
        b, d = rep["baseline"], rep["vs_baseline"]
        pts = lambda v: f"{100 * v:+.2f}"  # noqa: E731
        f_ci, a_ci = d["macro_f1_delta_ci95"], d["accuracy_delta_ci95"]
        chosen = f"C={rep['params'].get('C')}"
        if "other_threshold" in rep["params"]:
            chosen += f" other<{rep['params']['other_threshold']}"
        print(f"{name:36s} {task:9s} {rep['train_rows']:6d} {rep['test_rows']:6d} | "
              f"{rep['accuracy']:8.4f} {rep['macro_f1']:6.4f} | {b['accuracy']:8.4f} {b['macro_f1']:6.4f} | "
              f"{pts(d['macro_f1_delta']):>6s} [{pts(f_ci[0])}, {pts(f_ci[1])}] "
              f"{pts(d['accuracy_delta']):>6s} [{pts(a_ci[0])}, {pts(a_ci[1])}] | {chosen}", flush=True)


if __name__ == "__main__":
    main()
