"""The risk model and its context rules, through the packaged Triager: categories with calibrated
scores, thresholds and the words that drove them; self-harm urgent at P1; negation, innocent uses
and policy questions; the thresholds chosen on out-of-fold scores; quality on held-out cases."""

from __future__ import annotations

import csv
from pathlib import Path

import msgspec
import numpy as np
import pytest

from deskgate.models.enums import Priority
from deskgate.models.triage import Triage, TriageInput
from deskgate.triage import artifacts
from deskgate.triage.engine import Triager
from deskgate.triage.pipeline import Pipelines
from deskgate.triage.risk import CATEGORIES, RiskModel, parse_labels
from deskgate.triage.risk_training import choose_threshold, read_corpus, train_risk
from deskgate.triage.rules import RiskContext, load_rules

DATA = Path(__file__).parent / "data"
HELDOUT = DATA / "risk_heldout.csv"


def _one(triager: Triager, text: str, **kw: str | int) -> Triage:
    return triager.triage([TriageInput(text=text, **kw)])[0]  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["钱都被骗光了，我真的不想活了", "活着太累了，今晚就想结束这一切",
                                  "I don't want to live anymore. This was all the money I had.",
                                  "honestly thinking of ending my life, nothing matters"])
def test_self_harm_is_urgent_p1_with_the_words(triager: Triager, text: str) -> None:
    t = _one(triager, text)
    assert t.risk.high and t.risk.urgent
    assert t.priority is Priority.P1
    [cat] = [c for c in t.risk.categories if c.name == "self_harm"]
    assert cat.flagged and cat.reasons
    assert any("self harm" in r for r in t.risk.reasons)
    assert any("manager" in r for r in t.priority_reasons)


@pytest.mark.parametrize(("text", "category"), [
    ("充电宝充着电突然冒烟起火，把床单烧了一个洞", "safety_injury"),
    ("The space heater sparked and gave my son an electric shock.", "safety_injury"),
    ("吃了你们的外卖之后全家上吐下泻，去医院挂了急诊", "health_food"),
    ("Someone logged into my account from another country and changed my password.", "fraud_account"),
    ("你们发给我的快递单上是别人的姓名、电话和家庭住址", "privacy_data"),
    ("我已经向12315和市场监管局投诉了，律师函下周寄到", "legal_regulator"),
    ("I've disputed this charge with my credit card company.", "payment_dispute"),
])
def test_categories_the_lexicons_missed(triager: Triager, text: str, category: str) -> None:
    t = _one(triager, text)
    flagged = {c.name: c for c in t.risk.categories if c.flagged}
    assert category in flagged, t.risk
    c = flagged[category]
    assert 0.0 <= c.score <= 1.0 and c.score >= c.threshold
    assert c.reasons and all(r for r in c.reasons)   # the words behind it, quoted
    assert any(ch in c.reasons[0] for ch in "“”")


@pytest.mark.parametrize("text", [
    "我是律师，想咨询一下企业版怎么开发票", "I'm a lawyer; do you offer discounts for law firms?",
    "Does the Fire TV stick support 4K?", "累死了，终于收到货了，很满意",
    "What is your privacy policy for cookies?", "请问你们的退款政策是什么？几天到账？",
    "Where is my order?", "这个耳机有没有降噪",
])
def test_innocent_uses_and_policy_questions_do_not_flag(triager: Triager, text: str) -> None:
    t = _one(triager, text)
    assert not t.risk.high, t.risk
    assert not t.risk.urgent


def test_masking_reruns_the_score_without_the_masked_words(triager: Triager) -> None:
    """Negated and innocent phrases are no evidence: a flag that rests on them is withdrawn
    with a reason, while the rest of the message still counts."""
    text = "The charger caught fire and burned my hand."
    assert "safety_injury" in {c.name for c in _one(triager, text).risk.categories if c.flagged}
    rules = load_rules()
    ctx = msgspec.structs.replace(rules.risk_context, innocent=("caught fire and burned my hand",))
    masked = Triager(triager.models, rules=msgspec.structs.replace(rules, risk_context=ctx),
                     pipelines=triager.pipelines)
    t = _one(masked, text)
    assert not t.risk.high
    [c] = [c for c in t.risk.categories if c.name == "safety_injury"]
    assert not c.flagged and c.reasons == ("not counted, innocent: “caught fire and burned my hand”",)
    # the rest of a message still counts
    both = _one(masked, text + " My son got an electric shock from the same charger.")
    assert "safety_injury" in {c.name for c in both.risk.categories if c.flagged}


def test_explicit_self_harm_rule_and_its_negation(triager: Triager) -> None:
    ctx = RiskContext(explicit={"self_harm": ("不想活",)})
    rules = msgspec.structs.replace(load_rules(), risk_context=ctx)
    t = Triager(triager.models, rules=rules, pipelines=triager.pipelines)
    hit = _one(t, "快递丢了，不想活")
    assert hit.risk.urgent and any("rule: “不想活”" in r for r in hit.risk.reasons)
    denied = _one(t, "放心，我没有不想活，就是问快递")
    assert not any("rule:" in r for c in denied.risk.categories for r in c.reasons)


def test_policy_question_raises_the_threshold(triager: Triager) -> None:
    t = _one(triager, "What is your policy if someone else's data is sent to me by mistake?")
    for c in t.risk.categories:
        assert c.threshold >= 0.9
    assert not t.risk.high


def test_vip_churn_is_a_high_value_churn(triager: Triager) -> None:
    plain, vip = triager.triage([
        TriageInput(text="Cancel my subscription, switching to a competitor."),
        TriageInput(text="Cancel my subscription, switching to a competitor.", customer_tier="vip")])
    assert not any("customer tier" in r for c in plain.risk.categories for r in c.reasons)
    assert vip.risk.high
    [c] = [c for c in vip.risk.categories if c.name == "churn_high_value"]
    assert c.flagged and any("customer tier vip" in r for r in c.reasons)


def test_risk_json_has_every_field(triager: Triager) -> None:
    t = _one(triager, "你们的充电器爆炸了，我的手被炸伤了，我要起诉")
    data = msgspec.json.decode(msgspec.json.encode(t))
    assert set(data["risk"]) == {"high", "score", "reasons", "categories", "urgent"}
    for c in data["risk"]["categories"]:
        assert set(c) == {"name", "score", "threshold", "flagged", "reasons"}
    assert data["risk"]["categories"][0]["flagged"]
    assert msgspec.json.decode(msgspec.json.encode(t), type=Triage) == t


def test_packaged_model_manifest_has_thresholds_and_calibration() -> None:
    from deskgate.triage.engine import DEFAULT_MODEL_DIR

    man = artifacts.read_manifest(DEFAULT_MODEL_DIR / "risk")
    assert man.task == "risk" and tuple(man.labels) == (*CATEGORIES, "any_risk")
    thresholds = man.params["thresholds"]
    assert set(thresholds) == {*CATEGORIES, "any_risk"}
    assert all(0.0 < thresholds[c] <= 1.0 for c in thresholds)
    for c in CATEGORIES:
        m = man.metrics["per_category"][c]
        assert m["support"] >= 20, c
        assert m["threshold"] == thresholds[c]
    assert "platt" in man.params["calibration"]
    assert man.metrics["gate"]["oof_recall"] >= 0.95


def test_choose_threshold_meets_the_precision_target() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    prob = np.clip(y * 0.35 + rng.random(400) * 0.65, 0, 1)
    t, p, r, met = choose_threshold(prob, y, 0.9)
    assert met and p >= 0.9
    flagged = prob >= t
    assert (y[flagged] == 1).mean() >= 0.9
    # an impossible target: the best F1 instead, and says so
    t2, p2, r2, met2 = choose_threshold(np.array([0.9, 0.8, 0.7, 0.6]), np.array([0, 1, 0, 1]),
                                        0.99)
    assert not met2 and (p2, r2) == (0.5, 1.0) and 0.3 <= t2 < 0.6


def test_training_round_trip_and_refusals(tmp_path: Path, pipelines: Pipelines) -> None:
    rows = read_corpus()[::4]
    texts, labels = [t for t, _ in rows], [c for _, c in rows]
    texts += ["Where is my order?", "请问怎么开发票"] * 10
    labels += [()] * 20
    model = train_risk(texts, labels, pipelines=pipelines)
    man = artifacts.save(model, tmp_path / "risk")
    loaded = RiskModel(artifacts.load(tmp_path / "risk", task="risk"))
    assert man.params["thresholds"] == {**{c: float(t) for c, t in
                                           zip(loaded.categories, loaded.thresholds, strict=True)},
                                        "any_risk": loaded.gate}
    again = train_risk(texts, labels, pipelines=pipelines)
    assert (again.coef != model.coef).nnz == 0   # deterministic
    bare = artifacts.load(tmp_path / "risk", task="risk")
    object.__setattr__(bare, "info", {"params": {}})
    with pytest.raises(ValueError, match="thresholds"):
        RiskModel(bare)
    with pytest.raises(ValueError, match="unknown risk categories"):
        parse_labels("self_harm;weather")
    assert parse_labels("none") == () and parse_labels("self_harm;legal_regulator") == (
        "legal_regulator", "self_harm")


def test_heldout_quality(triager: Triager) -> None:
    """Hand-written cases no model was trained on (tests/triage/data/risk_heldout.csv). The
    bounds sit below what the packaged model reaches (see triage/README.md) with margin: this
    fails on a bad regression, not on noise."""
    rows = list(csv.DictReader(HELDOUT.open(encoding="utf-8")))
    results = triager.triage([TriageInput(text=r["text"]) for r in rows])
    truth = np.array([bool(parse_labels(r["labels"])) for r in rows])
    flag = np.array([t.risk.high for t in results])
    tp = int((truth & flag).sum())
    precision, recall = tp / max(1, int(flag.sum())), tp / max(1, int(truth.sum()))
    assert precision >= HELDOUT_MIN_PRECISION, precision
    assert recall >= HELDOUT_MIN_RECALL, recall
    self_harm = [t for r, t in zip(rows, results, strict=True) if "self_harm" in parse_labels(r["labels"])]
    assert sum(t.risk.urgent for t in self_harm) >= 0.8 * len(self_harm)


HELDOUT_MIN_PRECISION = 0.88
HELDOUT_MIN_RECALL = 0.84
