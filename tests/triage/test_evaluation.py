"""The strong baseline, the paired bootstrap comparison, C chosen at train time and the
out-of-scope ("other") decision."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from deskgate.triage import artifacts
from deskgate.triage.evaluation import baseline, baseline_words, compare
from deskgate.triage.pipeline import Pipelines
from deskgate.triage.training import C_GRID, featurize, train

TEXTS = ["我的订单还没发货", "where is my order", "退款还没到账", "I want a refund",
         "快递丢了", "my parcel is lost", "订单状态不对", "order still processing",
         "要求退款", "refund please", "物流不更新", "tracking not updating",
         "你好", "hello there", "随便问问", "just saying hi", "今天天气不错", "nice weather"]
LABELS = ["order", "order", "refund", "refund", "ship", "ship", "order", "order",
          "refund", "refund", "ship", "ship", "other", "other", "other", "other", "other", "other"]


def test_baseline_segments_chinese_into_words() -> None:
    words = baseline_words("我的订单还没到，where is it?")
    assert "订单" in words and "where" in words and "，" not in words and "?" not in words


def test_strong_baseline_trains_and_predicts_the_labels() -> None:
    rep, pred = baseline(TEXTS * 2, LABELS * 2, TEXTS, LABELS)
    assert rep["model"].startswith("baseline tfidf(char_wb 1-4 + word 1-2, jieba)")
    assert len(pred) == len(TEXTS) and set(pred) <= set(LABELS)
    assert rep["accuracy"] >= 0.9  # it has seen these rows


def test_compare_gives_the_paired_difference_and_its_interval() -> None:
    truth = ["a", "b", "c", "a"] * 50
    same = compare(truth, truth, truth, n_boot=200)
    assert same["macro_f1_delta"] == 0.0 and same["macro_f1_delta_ci95"] == [0.0, 0.0]
    wrong = ["b", "c", "a", "b"] * 50
    better = compare(truth, truth, wrong, n_boot=200)
    assert better["macro_f1_delta"] == 1.0 and better["accuracy_delta"] == 1.0
    # Half right: the interval brackets the difference and excludes zero.
    half = truth[:100] + wrong[100:]
    d = compare(truth, half, wrong, n_boot=500)
    lo, hi = d["accuracy_delta_ci95"]
    assert lo < d["accuracy_delta"] < hi and lo > 0.0 and d["bootstrap"]["paired_over"] == "test rows"


def test_C_is_chosen_by_cross_validation_and_recorded(pipelines: Pipelines) -> None:
    model = train("topic", TEXTS * 3, LABELS * 3, pipelines=pipelines)
    params, metrics = model.info["params"], model.info["metrics"]
    assert params["C_chosen_by"] == "3-fold CV" and params["C"] in C_GRID["svm"]
    assert set(metrics["cv_macro_f1_by_C"]) == {str(c) for c in C_GRID["svm"]}
    assert metrics["cv_macro_f1_by_C"][str(params["C"])] == max(metrics["cv_macro_f1_by_C"].values())
    given = train("topic", TEXTS * 3, LABELS * 3, pipelines=pipelines, C=0.5)
    assert given.info["params"]["C"] == 0.5 and given.info["params"]["C_chosen_by"] == "given"


def test_low_confidence_is_answered_other_and_survives_save_load(pipelines: Pipelines,
                                                               tmp_path: Path) -> None:
    model = train("topic", TEXTS * 3, LABELS * 3, pipelines=pipelines)
    assert model.other_label == "other" and 0.0 <= model.other_threshold < 1.0
    assert "other_threshold" in model.info["params"]
    X = model.transform(featurize(["refund please", "我的订单还没发货"], pipelines))
    probs = model.predict_proba(X)
    top = probs.max(axis=1)
    # A threshold above every row's confidence answers "other" for all; below, the top class.
    strict = dataclasses.replace(model, other_threshold=float(top.max()) + 1e-3)
    assert strict.predict(X) == ["other", "other"]
    lax = dataclasses.replace(model, other_threshold=float(top.min()) - 1e-3)
    assert lax.predict(X) == [model.labels[i] for i in probs.argmax(axis=1)]
    artifacts.save(strict, tmp_path / "topic", created="2026-01-01T00:00:00Z")
    loaded = artifacts.load(tmp_path / "topic", task="topic")
    assert loaded.other_label == "other" and loaded.other_threshold == strict.other_threshold
    assert loaded.predict(X) == ["other", "other"]
    # Without an "other" class nothing is ever replaced.
    plain = train("topic", TEXTS[:12] * 3, LABELS[:12] * 3, pipelines=pipelines)
    assert plain.other_label is None and "other_threshold" not in plain.info["params"]
    assert np.array_equal(plain.choose(np.array([[0.34, 0.33, 0.33]])), [0])


def test_nbsvm_folds_its_feature_scaling_into_ordinary_weights(pipelines: Pipelines) -> None:
    from sklearn.preprocessing import normalize
    from sklearn.svm import LinearSVC

    pos = ["很好，很满意", "服务很好", "great service, thanks", "love it, very good", "干净舒服，推荐"]
    neg = ["很差，不满意", "服务太差", "terrible service", "hate it, very bad", "又脏又吵，不推荐"]
    texts, labels = (pos + neg) * 3, (["positive"] * 5 + ["negative"] * 5) * 3
    model = train("sentiment", texts, labels, pipelines=pipelines, classifier="nbsvm", C=0.3)
    assert model.info["params"]["classifier"] == "nbsvm"
    probe = ["非常满意，很好", "very bad, terrible"]
    assert model.predict(model.transform(featurize(probe, pipelines))) == ["positive", "negative"]
    # Scaling each feature by the positive class's log-count ratio r and then an SVM scores
    # exactly what the stored model scores with w * r folded in.
    raw = featurize(texts, pipelines)
    X = normalize(model.transform(raw)[:, model.idf_index]).tocsr()
    present = X.copy()
    present.data[:] = 1.0
    mine = np.array(labels) == "positive"
    p = np.asarray(present[mine].sum(axis=0)).ravel() + 1.0
    q = np.asarray(present[~mine].sum(axis=0)).ravel() + 1.0
    r = np.log((p / p.sum()) / (q / q.sum()))
    direct = LinearSVC(C=0.3, random_state=0).fit(X.multiply(r).tocsr(), mine.astype(np.int8))
    k = model.labels.index("positive")
    stored = model.decision(model.transform(raw))[:, k]
    assert np.allclose(stored, direct.decision_function(X.multiply(r).tocsr()), atol=1e-4)
