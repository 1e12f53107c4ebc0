"""Evaluation of a classifier on labelled data (CSV or JSONL), as `deskgate triage eval` reports
it: accuracy, macro-F1, per-class precision/recall/F1, the confusion matrix, training time and
prediction throughput. Also the plain TF-IDF + LogisticRegression baseline that every figure is
compared with (scikit-learn defaults, on the same split)."""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

from deskgate.triage.model import Model
from deskgate.triage.pipeline import Pipelines
from deskgate.triage.training import featurize, train

MAX_ROWS = 2_000_000
MAX_TEXT = 20_000  # characters kept per row; training and triage look at far less


class DataError(ValueError):
    """The file cannot be read as labelled data; the message says which row or column."""


def read_labelled(path: Path, text_col: str = "text", label_col: str = "label") -> tuple[list[str], list[str]]:
    """Rows of a CSV (header row) or JSONL file. `text_col` may name several columns joined by
    commas ("subject,body"); rows with an empty label or text are skipped (and counted in the
    error if nothing is left)."""
    path = Path(path)
    cols = [c.strip() for c in text_col.split(",") if c.strip()]
    texts: list[str] = []
    labels: list[str] = []
    skipped = 0
    for n, row in enumerate(_rows(path), start=1):
        if n > MAX_ROWS:
            raise DataError(f"{path}: more than {MAX_ROWS} rows")
        missing = [c for c in [*cols, label_col] if c not in row]
        if missing:
            raise DataError(f"{path}: row {n} has no column(s) {missing}; columns: {sorted(row)}")
        text = "\n".join(str(row[c] or "") for c in cols).strip().lstrip("\ufeff")[:MAX_TEXT]
        label = str(row[label_col] if row[label_col] is not None else "").strip()
        if not text or not label:
            skipped += 1
            continue
        texts.append(text)
        labels.append(label)
    if not texts:
        raise DataError(f"{path}: no usable rows ({skipped} without text or label)")
    return texts, labels


def _rows(path: Path) -> Any:
    suffix = path.suffix.lower()
    try:
        if suffix in (".jsonl", ".ndjson"):
            with path.open(encoding="utf-8-sig") as fh:
                for n, line in enumerate(fh, start=1):
                    if line.strip():
                        try:
                            obj = json.loads(line)
                        except json.JSONDecodeError as exc:
                            raise DataError(f"{path}: line {n} is not JSON: {exc}") from exc
                        if not isinstance(obj, dict):
                            raise DataError(f"{path}: line {n} is not a JSON object")
                        yield obj
        elif suffix in (".csv", ".tsv"):
            csv.field_size_limit(10 * MAX_TEXT)
            with path.open(encoding="utf-8-sig", newline="") as fh:
                yield from csv.DictReader(fh, delimiter="\t" if suffix == ".tsv" else ",")
        else:
            raise DataError(f"{path}: expected .csv, .tsv or .jsonl")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 ({exc})") from exc
    except csv.Error as exc:
        raise DataError(f"{path}: malformed CSV: {exc}") from exc


def report(
    y_true: Sequence[str], y_pred: Sequence[str], *, train_seconds: float, predict_seconds: float,
    model: str, train_rows: int = 0,
) -> dict[str, Any]:
    """The evaluation report as one JSON-ready object."""
    labels = sorted(set(y_true) | set(y_pred))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    n = len(y_true)
    return {
        "model": model,
        "train_rows": train_rows,
        "test_rows": n,
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
        "macro_f1": round(float(f1_score(y_true, y_pred, labels=sorted(set(y_true)), average="macro",
                                         zero_division=0)), 4),
        "per_class": {
            lab: {"precision": round(float(p[i]), 4), "recall": round(float(r[i]), 4),
                  "f1": round(float(f[i]), 4), "support": int(s[i])}
            for i, lab in enumerate(labels)
        },
        "confusion": {"labels": labels,
                      "matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist()},
        "train_seconds": round(train_seconds, 3),
        "msgs_per_second": round(n / predict_seconds, 1) if predict_seconds > 0 else None,
    }


def evaluate_model(model: Model, pipelines: Pipelines, texts: Sequence[str], labels: Sequence[str],
                   *, train_seconds: float = 0.0, train_rows: int = 0,
                   progress: bool = False) -> dict[str, Any]:
    """Score `model` with the production feature path; throughput includes clean-up,
    tokenization and featurization, batched."""
    started = time.perf_counter()
    pred = model.predict(model.transform(featurize(texts, pipelines, progress=progress)))
    elapsed = time.perf_counter() - started
    unknown = sorted(set(labels) - set(model.labels))
    out = report(labels, pred, train_seconds=train_seconds, predict_seconds=elapsed,
                 model=str(model.info.get("version", "deskgate")), train_rows=train_rows)
    if unknown:
        out["labels_unknown_to_model"] = unknown
    return out


def train_and_evaluate(task: str, train_texts: Sequence[str], train_labels: Sequence[str],
                       test_texts: Sequence[str], test_labels: Sequence[str],
                       pipelines: Pipelines, progress: bool = False,
                       **train_kwargs: Any) -> dict[str, Any]:
    """Exactly the production training pipeline on TRAIN, evaluated on TEST."""
    started = time.perf_counter()
    model = train(task, train_texts, train_labels, pipelines=pipelines, progress=progress,
                  **train_kwargs)
    took = time.perf_counter() - started
    out = evaluate_model(model, pipelines, test_texts, test_labels, train_seconds=took,
                         train_rows=len(train_texts), progress=progress)
    out["model"] = f"deskgate ({model.info['params']['classifier']}, fresh)"
    out["cv"] = model.info.get("metrics", {})
    return out


def baseline(train_texts: Sequence[str], train_labels: Sequence[str], test_texts: Sequence[str],
             test_labels: Sequence[str]) -> dict[str, Any]:
    """Plain TF-IDF (scikit-learn defaults) + LogisticRegression on the same split."""
    started = time.perf_counter()
    vec = TfidfVectorizer()
    clf = LogisticRegression(max_iter=1000)
    clf.fit(vec.fit_transform(train_texts), train_labels)
    took = time.perf_counter() - started
    started = time.perf_counter()
    pred = clf.predict(vec.transform(test_texts)).tolist()
    return report(test_labels, pred, train_seconds=took, predict_seconds=time.perf_counter() - started,
                  model="baseline tfidf+logreg", train_rows=len(train_texts))


def format_report(rep: dict[str, Any], *, line: Callable[[str], None] = print) -> None:
    """The human-readable form of `report`."""
    line(f"model: {rep['model']}   train rows: {rep['train_rows']}   test rows: {rep['test_rows']}")
    line(f"accuracy {rep['accuracy']:.4f}   macro-F1 {rep['macro_f1']:.4f}   "
         f"train {rep['train_seconds']:.2f} s   predict {rep['msgs_per_second']} msgs/s")
    width = max(8, *(len(k) for k in rep["per_class"]))
    line(f"{'class':<{width}}  precision  recall     f1  support")
    for lab, m in rep["per_class"].items():
        line(f"{lab:<{width}}  {m['precision']:9.3f}  {m['recall']:6.3f}  {m['f1']:5.3f}  {m['support']:7d}")
    labels = rep["confusion"]["labels"]
    if len(labels) <= 20:
        line("confusion (rows: true, columns: predicted)")
        short = [lab[:7] for lab in labels]
        line(" " * (width + 2) + " ".join(f"{s:>7}" for s in short))
        for lab, row in zip(labels, rep["confusion"]["matrix"], strict=True):
            line(f"{lab:<{width}}  " + " ".join(f"{v:7d}" for v in row))
    else:
        line(f"confusion matrix: {len(labels)} classes, see --json")
