"""Retraining's pipeline: labelled rows from a source, the held-out split, training a candidate,
and the comparison with the current model (what the train and evaluate jobs run, and what
bench/retrain.py measures).

The held-out split is a pure function of each row's text (sha1, 20 %), so the candidate and
the current model are scored on the same rows, identical texts never sit on both sides, and a
row never moves from test to train between retrainings.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import redis

from deskgate.gateway.retraining import classifier_store
from deskgate.gateway.retraining.uploads import upload_path
from deskgate.models.codec import to_builtins
from deskgate.models.enums import Priority, Sentiment
from deskgate.models.learning import PastTicket
from deskgate.queue.classifier_registry import DEFAULT, ClassifierRegistry
from deskgate.queue.history import History
from deskgate.queue.keys import Keys
from deskgate.triage import evaluation
from deskgate.triage.model import Model
from deskgate.triage.pipeline import Pipelines
from deskgate.triage.risk import TASK as RISK
from deskgate.triage.risk import format_labels, parse_labels
from deskgate.triage.risk_training import evaluate as evaluate_risk
from deskgate.triage.risk_training import train_risk, training_rows
from deskgate.triage.training import TrainingError, featurize, train

SOURCES = ("tickets", "history", "all", "upload")
TEST_PERCENT = 20
MIN_ROWS = 10
MAX_DISAGREEMENTS = 50
VALID_LABELS = {"priority": {p.value for p in Priority},
                "sentiment": {s.value for s in Sentiment}}


class Policy(msgspec.Struct, frozen=True, kw_only=True):
    """When a candidate may be promoted without an admin: on the held-out split, its macro-F1
    and its F1 on every class with at least `min_support` test rows are each no more than
    `max_drop` (0.005 = half a point) below the current model's."""

    min_support: int = 20
    max_drop: float = 0.005


DEFAULT_POLICY = Policy()


@cache
def shared_pipelines() -> Pipelines:
    """Built once per process; `deskgate retraining-worker` builds it before forking, so every job's horse
    starts with spaCy and jieba loaded."""
    return Pipelines()


def examples(client: redis.Redis, keys: Keys, data_dir: Path, task: str,
             params: dict[str, Any]) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """(text, label) rows for `task` from the chosen source, and what was used (for the
    manifest). Rows without a usable label for the task are left out and counted.

    For the risk model a label is "none" or ";"-separated categories; its rows are what the
    packaged risk model is trained on (`risk_training.training_rows`) followed by the source's:
    for tickets (and all), managers' verdicts on flags (`History.risk_verdicts`) instead of
    resolved tickets' labels. A later row with the same text wins, so a manager's verdict or an
    admin's file overrides the corpus."""
    source = params.get("source", "all")
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}")
    history = History(client, keys)
    tickets: Iterable[PastTicket]
    if source == "upload":
        texts, labels = evaluation.read_labelled(
            upload_path(data_dir, params.get("upload", "")), params.get("text_col", "text"),
            params.get("label_col", "label"))
        tickets = (PastTicket(source="upload", source_id=str(i), text=t, **{task: y})
                   for i, (t, y) in enumerate(zip(texts, labels, strict=True)))
    elif source == "tickets":
        tickets = history.risk_verdicts() if task == RISK else history.resolved()
    elif source == "history":
        tickets = history.imported()
    else:
        tickets = (*(history.risk_verdicts() if task == RISK else history.resolved()),
                   *history.imported())
    if task == RISK:
        corpus = (PastTicket(source="corpus", source_id=str(i), text=t, risk=format_labels(cats))
                  for i, (t, cats) in enumerate(training_rows()))
        tickets = (*corpus, *tickets)
    rows: list[tuple[str, str]] = []
    skipped: Counter[str] = Counter()
    by_source: Counter[str] = Counter()
    corrected = 0
    for t in tickets:
        label = t.label(task).strip()
        if not label:
            skipped["no label"] += 1
            continue
        if task in VALID_LABELS and label not in VALID_LABELS[task]:
            skipped[f"not a {task}: {label[:20]}"] += 1
            continue
        if task == RISK:
            try:
                label = format_labels(parse_labels(label))
            except ValueError:
                skipped[f"not a risk label: {label[:20]}"] += 1
                continue
        text = f"{t.subject.strip()}\n{t.text}".strip()
        if not text:
            skipped["no text"] += 1
            continue
        rows.append((text, label))
        by_source[t.source] += 1
        corrected += t.corrected
    if task == RISK:
        rows = list(dict(rows).items())
    return rows, {"source": source, "rows_by_source": dict(by_source),
                  "corrected_by_agents": corrected, "skipped": dict(skipped)}


def is_test(text: str) -> bool:
    return int(hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:8], 16) % 100 \
        < TEST_PERCENT


def split(rows: Sequence[tuple[str, str]]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    train_rows, test_rows = [], []
    for row in rows:
        (test_rows if is_test(row[0]) else train_rows).append(row)
    return train_rows, test_rows


def calibration(probs: np.ndarray, correct: np.ndarray, bins: int = 10) -> dict[str, Any]:
    """Reliability of the top-class probability: per bin, how confident the model was and how
    often it was right, and the expected calibration error (their weighted gap)."""
    conf = probs.max(axis=1) if len(probs) else np.zeros(0)
    table, ece = [], 0.0
    for lo in range(bins):
        m = (conf > lo / bins) & (conf <= (lo + 1) / bins)
        if m.any():
            gap = abs(float(conf[m].mean()) - float(correct[m].mean()))
            ece += float(m.mean()) * gap
            table.append({"from": lo / bins, "to": (lo + 1) / bins, "rows": int(m.sum()),
                          "confidence": round(float(conf[m].mean()), 4),
                          "accuracy": round(float(correct[m].mean()), 4)})
    return {"ece": round(ece, 4), "bins": table}


def compare(candidate: Model, current: Model, test_rows: Sequence[tuple[str, str]],
            pipelines: Pipelines, policy: Policy = DEFAULT_POLICY) -> dict[str, Any]:
    """Both models on the same held-out rows (featurized once): accuracy, macro-F1, per-class
    precision/recall/F1, confusion matrix, calibration, the rows where they disagree, and
    whether the policy allows promoting the candidate."""
    if candidate.task == RISK:
        return compare_risk(candidate, current, test_rows, pipelines, policy)
    texts = [t for t, _ in test_rows]
    truth = [y for _, y in test_rows]
    started = time.perf_counter()
    raw = featurize(texts, pipelines)
    feat_seconds = time.perf_counter() - started
    reports, preds = {}, {}
    for name, model in (("current", current), ("candidate", candidate)):
        t0 = time.perf_counter()
        probs = model.predict_proba(model.transform(raw))
        pred = [model.labels[i] for i in model.choose(probs)] if len(texts) else []
        rep = evaluation.report(truth, pred, train_seconds=float(model.info.get(
            "train_seconds", 0.0)), predict_seconds=feat_seconds + time.perf_counter() - t0,
            model=str(model.info.get("version", name)))
        rep["labels"] = list(model.labels)
        rep["calibration"] = calibration(probs, np.array(pred) == np.array(truth))
        reports[name], preds[name] = rep, pred
    return _comparison(candidate, current, texts, truth, reports, preds, policy, str)


def compare_risk(candidate: Model, current: Model, test_rows: Sequence[tuple[str, str]],
                 pipelines: Pipelines, policy: Policy = DEFAULT_POLICY) -> dict[str, Any]:
    """The risk models on the same held-out rows: per category precision/recall/F1 at each
    model's own thresholds, macro-F1 over the categories, the any-risk flag's precision and
    recall, and the rows where the two flag different categories."""
    texts = [t for t, _ in test_rows]
    truth = [parse_labels(y) for _, y in test_rows]
    reports, preds = {}, {}
    for name, model in (("current", current), ("candidate", candidate)):
        rep, preds[name] = evaluate_risk(model, texts, truth, pipelines, with_predictions=True)
        rep["labels"] = list(model.labels)
        reports[name] = rep
    return _comparison(candidate, current, texts, truth, reports, preds, policy, format_labels)


def _comparison(candidate: Model, current: Model, texts: Sequence[str], truth: Sequence[Any],
                reports: dict[str, Any], preds: dict[str, Any], policy: Policy,
                show: Callable[[Any], str]) -> dict[str, Any]:
    """The comparison document both kinds of task share; `show` renders one label value."""
    disagree = [i for i, (a, b) in enumerate(zip(preds["current"], preds["candidate"],
                                                 strict=True)) if a != b]
    return {
        "test_rows": len(texts),
        "split": f"sha1(text) % 100 < {TEST_PERCENT}",
        "current": reports["current"],
        "candidate": reports["candidate"],
        "new_labels": sorted(set(candidate.labels) - set(current.labels)),
        "dropped_labels": sorted(set(current.labels) - set(candidate.labels)),
        "disagreements": len(disagree),
        "disagreement_examples": [
            {"text": texts[i][:300], "label": show(truth[i]),
             "current": show(preds["current"][i]), "candidate": show(preds["candidate"][i])}
            for i in disagree[:MAX_DISAGREEMENTS]],
        "policy": check_policy(reports["candidate"], reports["current"], policy),
    }


def check_policy(cand: dict[str, Any], cur: dict[str, Any], policy: Policy) -> dict[str, Any]:
    failures: list[str] = []
    if not cand["test_rows"]:
        failures.append("no held-out rows to judge by")
    elif cand["macro_f1"] < cur["macro_f1"] - policy.max_drop:
        failures.append(f"macro-F1 {cand['macro_f1']:.4f} < current {cur['macro_f1']:.4f} "
                        f"- {policy.max_drop}")
    checked = []
    for label, m in cand["per_class"].items():
        if m["support"] < policy.min_support:
            continue
        before = cur["per_class"].get(label, {}).get("f1", 0.0)
        checked.append(label)
        if m["f1"] < before - policy.max_drop:
            failures.append(f"{label}: F1 {m['f1']:.4f} < current {before:.4f} - "
                            f"{policy.max_drop}")
    return {"passes": not failures, "failures": failures, "classes_checked": checked,
            **to_builtins(policy)}


def current_model(registry: ClassifierRegistry, data_dir: Path, task: str) -> Model:
    version = registry.current()[task]
    record = None if version == DEFAULT else registry.get(task, version)
    return classifier_store.load_models(data_dir, {task: record})[task]


def retrain(task: str, rows: Sequence[tuple[str, str]], current: Model, pipelines: Pipelines,
            *, stage: Callable[[str, int, str], None] = lambda *_: None,
            policy: Policy = DEFAULT_POLICY, source: str = "",
            params: dict[str, Any] | None = None) -> tuple[Model, dict[str, Any]]:
    """Split, train a candidate on the train part, compare it with `current` on the test part."""
    train_rows, test_rows = split(rows)
    counts = Counter(y for _, y in train_rows)
    if len(train_rows) < MIN_ROWS or len(counts) < 2:
        raise TrainingError(f"{len(train_rows)} training rows in {len(counts)} class(es); need "
                            f"at least {MIN_ROWS} rows and 2 classes")
    stage("training", 15, f"{len(train_rows)} rows, {len(counts)} classes; "
                          f"{len(test_rows)} held out")
    if task == RISK:
        candidate = train_risk([t for t, _ in train_rows],
                               [parse_labels(y) for _, y in train_rows], pipelines=pipelines,
                               data_source=source, **{k: v for k, v in (params or {}).items()
                                                      if k == "C"})
    else:
        candidate = train(task, [t for t, _ in train_rows], [y for _, y in train_rows],
                          pipelines=pipelines, data_source=source, **(params or {}))
    stage("evaluating", 75, f"candidate and current on {len(test_rows)} held-out rows")
    return candidate, compare(candidate, current, test_rows, pipelines, policy)
