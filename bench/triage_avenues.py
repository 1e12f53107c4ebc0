"""The avenues tried to beat the strong baseline (issue 13), each measured the same way:

    .venv/bin/python bench/triage_avenues.py [--only NAME] [--dev]

For every data set: the production features (`training.featurize`) once, then each variant of
the classifier on top of them, scored on the test split, next to the strong baseline
(`evaluation.baseline`) trained on the same split in the same run, as a difference with a
paired bootstrap 95% interval. `--dev` scores on 3-fold cross-validation inside Banking77's
train file instead (what the variants were tuned on). Splits as in bench/triage_datasets.py.

`--oos` measures the out-of-scope decision through the production `train` (which fits the
"other" threshold on out-of-fold probabilities): Banking77 with 22 of its 77 intents made out
of scope, 11 of them labelled "other" in train and test (out-of-scope examples an admin has),
11 never seen in training and labelled "other" in test only (what no taxonomy foresaw).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.naive_bayes import ComplementNB
from sklearn.preprocessing import normalize
from sklearn.svm import LinearSVC

from deskgate.triage.evaluation import baseline, baseline_pipeline, compare, read_labelled
from deskgate.triage.pipeline import Pipelines
from deskgate.triage.training import featurize

ROOT = Path(__file__).resolve().parent.parent
SPLITS = ROOT / "bench" / "results" / "splits"

Fit = Callable[[sp.csr_matrix, np.ndarray, sp.csr_matrix], np.ndarray]  # -> test scores


def tfidf(raw_tr: sp.csr_matrix, raw_te: sp.csr_matrix, min_df: int = 2) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    n = raw_tr.shape[0]
    df = np.bincount(raw_tr.indices, minlength=raw_tr.shape[1])
    keep = np.flatnonzero(df >= min_df)
    idf = sp.diags(np.log((1 + n) / (1 + df[keep])) + 1.0)
    return (normalize(raw_tr[:, keep] @ idf).tocsr(), normalize(raw_te[:, keep] @ idf).tocsr())


def svm(C: float, balanced: bool = False) -> Fit:
    def fit(X, y, T):
        est = LinearSVC(C=C, class_weight="balanced" if balanced else None).fit(X, y)
        return _full(est.decision_function(T), est.classes_, y)
    return fit


def logreg(C: float) -> Fit:
    def fit(X, y, T):
        est = LogisticRegression(C=C, max_iter=3000).fit(X, y)
        return _full(est.decision_function(T), est.classes_, y)
    return fit


def _full(scores: np.ndarray, classes: np.ndarray, y: np.ndarray) -> np.ndarray:
    if scores.ndim == 1:
        scores = np.stack([-scores, scores], axis=1)
    return scores


def nbsvm(C: float, alpha: float = 1.0) -> Fit:
    """One-vs-rest SVMs, each on features scaled by that class's log-count ratio (Wang &
    Manning 2012); still one linear map per class, so it folds into the shipped format."""
    def fit(X, y, T):
        classes = np.unique(y)
        Xb = X.copy()
        Xb.data = np.ones_like(Xb.data)
        out = np.zeros((T.shape[0], len(classes)))
        for j, c in enumerate(classes):
            pos = np.asarray(Xb[y == c].sum(axis=0)).ravel() + alpha
            neg = np.asarray(Xb[y != c].sum(axis=0)).ravel() + alpha
            r = np.log((pos / pos.sum()) / (neg / neg.sum()))
            R = sp.diags(r)
            est = LinearSVC(C=C).fit(X @ R, (y == c).astype(int))
            out[:, j] = est.decision_function(T @ R)
        return out
    return fit


def cnb_plus(base: Fit, weight: float) -> Fit:
    """Complement NB and a linear model, z-scored per model and added."""
    def fit(X, y, T):
        a = base(X, y, T)
        cnb = ComplementNB(alpha=0.3).fit(X, y)
        b = cnb.predict_joint_log_proba(T) if hasattr(cnb, "predict_joint_log_proba") else cnb.predict_log_proba(T)
        z = lambda s: (s - s.mean(axis=1, keepdims=True)) / (s.std(axis=1, keepdims=True) + 1e-9)  # noqa: E731
        return z(a) + weight * z(b)
    return fit


def sgd_cv(alphas: tuple[float, ...] = (1e-5, 3e-5, 1e-4)) -> Fit:
    """SGD with the modified Huber loss (a smoothed hinge that yields probabilities), alpha
    picked by 3-fold CV macro-F1 on the training rows."""
    from sklearn.linear_model import SGDClassifier
    from sklearn.metrics import f1_score

    def make(alpha: float) -> SGDClassifier:
        return SGDClassifier(loss="modified_huber", alpha=alpha, max_iter=50, tol=1e-4, random_state=0)

    def fit(X, y, T):
        best, best_a = -1.0, alphas[0]
        for a in alphas:
            pred = np.empty(len(y), dtype=y.dtype)
            for tr, te in StratifiedKFold(3, shuffle=True, random_state=0).split(X, y):
                pred[te] = make(a).fit(X[tr], y[tr]).predict(X[te])
            f = f1_score(y, pred, average="macro")
            if f > best:
                best, best_a = f, a
        print(f"    (sgd_cv chose alpha={best_a})", flush=True)
        est = make(best_a).fit(X, y)
        return _full(est.decision_function(T), est.classes_, y)
    return fit


# The strong baseline's class probabilities on the current test split (set by `run`), for the
# ensembles: its features (sklearn's char_wb + jieba words) differ from ours (hashed, spaCy
# tokens, char grams inside chunks), so their errors may differ too.
_BASE_PROBA: list[np.ndarray] = []


def ensemble(weight: float = 0.5, C: float = 30.0) -> Fit:
    """Probability average: `weight` x the baseline's + (1 - weight) x our logistic regression's
    (fixed 0.5, not tuned)."""
    def fit(X, y, T):
        est = LogisticRegression(C=C, max_iter=3000).fit(X, y)
        return weight * _BASE_PROBA[0] + (1 - weight) * est.predict_proba(T)
    return fit


def svm_cv(grid: tuple[float, ...] = (0.1, 0.3, 1.0, 3.0)) -> Fit:
    """C picked by 3-fold CV macro-F1 on the training rows (what `train` does at train time)."""
    from sklearn.metrics import f1_score

    def fit(X, y, T):
        best, best_c = -1.0, 1.0
        for C in grid:
            pred = np.empty(len(y), dtype=y.dtype)
            for tr, te in StratifiedKFold(3, shuffle=True, random_state=0).split(X, y):
                est = LinearSVC(C=C).fit(X[tr], y[tr])
                pred[te] = est.predict(X[te])
            f = f1_score(y, pred, average="macro")
            if f > best:
                best, best_c = f, C
        print(f"    (svm_cv chose C={best_c})", flush=True)
        return svm(best_c)(X, y, T)
    return fit


VARIANTS: dict[str, Fit] = {
    "svm C=1 (before)": svm(1.0),
    "svm C=0.3": svm(0.3),
    "svm C=1 balanced": svm(1.0, balanced=True),
    "svm C by 3-fold CV": svm_cv(),
    "logreg C=10": logreg(10.0),
    "logreg C=30": logreg(30.0),
    "nbsvm C=0.3": nbsvm(0.3),
    "svm + 0.5 cnb": cnb_plus(svm(0.5), 0.5),
    "svm + 0.25 cnb": cnb_plus(svm(0.5), 0.25),
    "sgd modified_huber, alpha by CV": sgd_cv(),
    "ensemble baseline + our logreg (avg prob)": ensemble(),
}

SETS = {
    "banking77": ("banking77.train.csv", "banking77.test.csv"),
    "shop_cat": ("shop_cat.train.csv", "shop_cat.test.csv"),
    "shop_sent": ("shop_sent.train.csv", "shop_sent.test.csv"),
    "htl": ("htl.train.csv", "htl.test.csv"),
    "airline": ("airline.train.csv", "airline.test.csv"),
}


def run(name: str, tr_x: list[str], tr_y: list[str], te_x: list[str], te_y: list[str],
        pipelines: Pipelines, only_variants: str) -> None:
    t0 = time.perf_counter()
    base = baseline_pipeline().fit(list(tr_x), list(tr_y))
    _BASE_PROBA[:] = [base.predict_proba(list(te_x))]
    # the classes of both are sorted label strings, so the probability columns line up
    base_pred = [str(base.classes_[i]) for i in _BASE_PROBA[0].argmax(axis=1)]
    raw_tr, raw_te = featurize(tr_x, pipelines), featurize(te_x, pipelines)
    X, T = tfidf(raw_tr, raw_te)
    y = np.array(tr_y)
    print(f"{name}: train {len(tr_x)} test {len(te_x)} (baseline + features {time.perf_counter() - t0:.0f} s)", flush=True)
    for vname, fit in VARIANTS.items():
        if only_variants and not any(v in vname for v in only_variants.split(",")):
            continue
        t0 = time.perf_counter()
        scores = fit(X, y, T)
        classes = np.unique(y)
        pred = [str(classes[i]) for i in scores.argmax(axis=1)]
        d = compare(te_y, pred, base_pred, n_boot=500)
        print(f"  {vname:22s} ΔmacroF1 {d['macro_f1_delta']*100:+5.2f} [{d['macro_f1_delta_ci95'][0]*100:+5.2f}, "
              f"{d['macro_f1_delta_ci95'][1]*100:+5.2f}]  Δacc {d['accuracy_delta']*100:+5.2f} "
              f"[{d['accuracy_delta_ci95'][0]*100:+5.2f}, {d['accuracy_delta_ci95'][1]*100:+5.2f}]  "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)


def oos(pipelines: Pipelines) -> None:
    from deskgate.triage.evaluation import train_and_evaluate

    tr_x, tr_y = read_labelled(SPLITS / "banking77.train.csv")
    te_x, te_y = read_labelled(SPLITS / "banking77.test.csv")
    intents = sorted(set(tr_y))
    out = intents[3::3][:22]
    seen_other, unseen = set(out[0::2]), set(out[1::2])
    keep = [i for i, y in enumerate(tr_y) if y not in unseen]
    tr_x = [tr_x[i] for i in keep]
    tr_y = ["other" if tr_y[i] in seen_other else tr_y[i] for i in keep]
    te_y = ["other" if y in seen_other | unseen else y for y in te_y]
    print(f"banking77 with out-of-scope: train {len(tr_x)} ({tr_y.count('other')} other), test "
          f"{len(te_x)} ({te_y.count('other')} other, of which "
          f"{sum(1 for y in read_labelled(SPLITS / 'banking77.test.csv')[1] if y in unseen)} from unseen intents)",
          flush=True)
    _, base_pred = baseline(tr_x, tr_y, te_x, te_y)
    rep, pred = train_and_evaluate("topic", tr_x, tr_y, te_x, te_y, pipelines)
    d = compare(te_y, pred, base_pred, n_boot=500)
    other = rep["per_class"]["other"]
    print(f"  production train (C={rep['params']['C']}, other < {rep['params'].get('other_threshold')}): "
          f"macro-F1 {rep['macro_f1']:.4f}, 'other' P/R {other['precision']:.3f}/{other['recall']:.3f}; "
          f"ΔmacroF1 {d['macro_f1_delta']*100:+.2f} [{d['macro_f1_delta_ci95'][0]*100:+.2f}, "
          f"{d['macro_f1_delta_ci95'][1]*100:+.2f}]  Δacc {d['accuracy_delta']*100:+.2f} "
          f"[{d['accuracy_delta_ci95'][0]*100:+.2f}, {d['accuracy_delta_ci95'][1]*100:+.2f}]", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="", help="data sets, comma-separated: " + ", ".join(SETS))
    ap.add_argument("--variants", default="", help="only variants whose name contains one of these")
    ap.add_argument("--dev", action="store_true", help="3-fold CV inside Banking77 train instead")
    ap.add_argument("--oos", action="store_true", help="the out-of-scope experiment (see above)")
    args = ap.parse_args()
    pipelines = Pipelines()
    if args.oos:
        oos(pipelines)
        return
    if args.dev:
        xs, ys = read_labelled(SPLITS / "banking77.train.csv")
        tr, te = next(StratifiedKFold(3, shuffle=True, random_state=0).split(xs, ys))
        run("banking77 train, fold 1 of 3", [xs[i] for i in tr], [ys[i] for i in tr],
            [xs[i] for i in te], [ys[i] for i in te], pipelines, args.variants)
        return
    for name, (tr_f, te_f) in SETS.items():
        if args.only and name not in args.only.split(","):
            continue
        run(name, *read_labelled(SPLITS / tr_f), *read_labelled(SPLITS / te_f), pipelines, args.variants)


if __name__ == "__main__":
    main()
