"""Evaluation of a classifier on labelled data (CSV or JSONL), as `deskgate triage eval` reports
it: accuracy, macro-F1, per-class precision/recall/F1, the confusion matrix, training time and
prediction throughput. Also the strong baseline that every figure is compared with, trained on
the same split in the same run: TF-IDF over char_wb 1-4-grams + word 1-2-grams (jieba words for
Chinese) -> LogisticRegression(C=10); and the paired bootstrap confidence interval of the
difference (`compare`)."""

from __future__ import annotations

import csv
import json
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jieba
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)
from sklearn.pipeline import FeatureUnion, make_pipeline

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
                   progress: bool = False) -> tuple[dict[str, Any], list[str]]:
    """Score `model` with the production feature path: (report, predictions). Throughput
    includes clean-up, tokenization and featurization, batched."""
    started = time.perf_counter()
    pred = model.predict(model.transform(featurize(texts, pipelines, progress=progress)))
    elapsed = time.perf_counter() - started
    unknown = sorted(set(labels) - set(model.labels))
    out = report(labels, pred, train_seconds=train_seconds, predict_seconds=elapsed,
                 model=str(model.info.get("version", "deskgate")), train_rows=train_rows)
    if unknown:
        out["labels_unknown_to_model"] = unknown
    return out, pred


def train_and_evaluate(task: str, train_texts: Sequence[str], train_labels: Sequence[str],
                       test_texts: Sequence[str], test_labels: Sequence[str],
                       pipelines: Pipelines, progress: bool = False,
                       **train_kwargs: Any) -> tuple[dict[str, Any], list[str]]:
    """Exactly the production training pipeline on TRAIN, evaluated on TEST:
    (report, predictions)."""
    started = time.perf_counter()
    model = train(task, train_texts, train_labels, pipelines=pipelines, progress=progress,
                  **train_kwargs)
    took = time.perf_counter() - started
    out, pred = evaluate_model(model, pipelines, test_texts, test_labels, train_seconds=took,
                               train_rows=len(train_texts), progress=progress)
    out["model"] = f"deskgate ({model.info['params']['classifier']}, fresh)"
    out["params"] = model.info.get("params", {})
    out["cv"] = model.info.get("metrics", {})
    return out, pred


_WORD = re.compile(r"\w", re.UNICODE)


def baseline_words(text: str) -> list[str]:
    """Word tokens for the baseline: jieba's segmentation (it leaves Latin words whole, so
    English and mixed text come out as words too), lower-cased, punctuation and spaces dropped."""
    return [w for w in jieba.lcut(text.lower()) if _WORD.search(w)]


def baseline_pipeline() -> Any:
    """The strong baseline of issue 13, as a scikit-learn pipeline on raw texts."""
    return make_pipeline(
        FeatureUnion([
            ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), sublinear_tf=True,
                                     lowercase=True)),
            ("word", TfidfVectorizer(tokenizer=baseline_words, token_pattern=None,
                                     lowercase=False, ngram_range=(1, 2), sublinear_tf=True)),
        ]),
        LogisticRegression(C=10, max_iter=3000),
    )


def baseline(train_texts: Sequence[str], train_labels: Sequence[str], test_texts: Sequence[str],
             test_labels: Sequence[str]) -> tuple[dict[str, Any], list[str]]:
    """The strong baseline trained on TRAIN and scored on TEST: (report, its predictions)."""
    started = time.perf_counter()
    clf = baseline_pipeline()
    clf.fit(list(train_texts), list(train_labels))
    took = time.perf_counter() - started
    started = time.perf_counter()
    pred = [str(p) for p in clf.predict(list(test_texts))]
    rep = report(test_labels, pred, train_seconds=took,
                 predict_seconds=time.perf_counter() - started,
                 model="baseline tfidf(char_wb 1-4 + word 1-2, jieba) + logreg(C=10)",
                 train_rows=len(train_texts))
    return rep, pred


def _scores(y: np.ndarray, p: np.ndarray, w: np.ndarray, k: int) -> tuple[float, float]:
    """(accuracy, macro-F1) with row weights `w` (bootstrap counts); classes absent from the
    weighted truth are left out of the macro average."""
    hit = y == p
    tp = np.bincount(y[hit], weights=w[hit], minlength=k)
    true = np.bincount(y, weights=w, minlength=k)
    pred = np.bincount(p, weights=w, minlength=k)
    denom = true + pred
    f1 = np.divide(2 * tp, denom, out=np.zeros(k), where=denom > 0)
    present = true > 0
    return float(tp.sum() / w.sum()), float(f1[present].mean())


def compare(y_true: Sequence[str], ours: Sequence[str], base: Sequence[str], *,
            n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Our predictions minus the baseline's on the same test rows: the difference in macro-F1
    and accuracy, each with a 95% paired bootstrap interval (test rows resampled with
    replacement, both models scored on the same resample)."""
    labels = {lab: i for i, lab in enumerate(sorted(set(y_true) | set(ours) | set(base)))}
    y = np.array([labels[v] for v in y_true])
    a = np.array([labels[v] for v in ours])
    b = np.array([labels[v] for v in base])
    k, n = len(labels), len(y)
    ones = np.ones(n)
    acc_a, f1_a = _scores(y, a, ones, k)
    acc_b, f1_b = _scores(y, b, ones, k)
    rng = np.random.default_rng(seed)
    deltas = np.empty((n_boot, 2))
    for i in range(n_boot):
        w = rng.multinomial(n, np.full(n, 1.0 / n)).astype(np.float64)
        (xa, fa), (xb, fb) = _scores(y, a, w, k), _scores(y, b, w, k)
        deltas[i] = (fa - fb, xa - xb)
    lo, hi = np.percentile(deltas, [2.5, 97.5], axis=0)
    return {
        "macro_f1_delta": round(f1_a - f1_b, 4),
        "macro_f1_delta_ci95": [round(float(lo[0]), 4), round(float(hi[0]), 4)],
        "accuracy_delta": round(acc_a - acc_b, 4),
        "accuracy_delta_ci95": [round(float(lo[1]), 4), round(float(hi[1]), 4)],
        "bootstrap": {"resamples": n_boot, "paired_over": "test rows", "seed": seed},
    }


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
