"""Risk and priority rules: hand-written high-risk and benign messages, precision and recall."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from deskgate.models.enums import Priority
from deskgate.models.triage import TriageInput
from deskgate.triage.engine import Triager
from deskgate.triage.rules import _SETS_FROM, PhraseMatcher, load_rules

CASES = Path(__file__).parent / "data" / "risk_cases.csv"


def test_risk_flag_precision_and_recall(triager: Triager) -> None:
    """The older hand-written cases. Four of their positives are not risks in the risk
    taxonomy (a standard customer leaving, plain anger): recall 12/16 by design."""
    rows = list(csv.DictReader(CASES.open(encoding="utf-8")))
    items = [TriageInput(text=r["text"], customer_tier=r["tier"], recent_contacts=int(r["contacts"]))
             for r in rows]
    results = triager.triage(items)
    tp = sum(1 for r, t in zip(rows, results, strict=True) if r["high"] == "1" and t.risk.high)
    fp = [r["text"] for r, t in zip(rows, results, strict=True) if r["high"] == "0" and t.risk.high]
    fn = [r["text"] for r, t in zip(rows, results, strict=True) if r["high"] == "1" and not t.risk.high]
    precision = tp / (tp + len(fp))
    recall = tp / (tp + len(fn))
    assert precision >= 0.9, fp
    assert recall >= 0.6, fn
    for t in results:
        if t.risk.high:
            assert t.risk.reasons and all(isinstance(x, str) and x for x in t.risk.reasons)


def test_reasons_quote_the_words_that_fired(triager: Triager) -> None:
    t = triager.triage([TriageInput(text="再不退款我就找律师起诉你们")])[0]
    assert t.risk.high
    assert any("律师" in r for r in t.risk.reasons)
    assert t.priority is Priority.P1


def test_negated_threat_does_not_fire(triager: Triager) -> None:
    t = triager.triage([TriageInput(text="I'm not going to cancel my subscription, just update my card")])[0]
    assert not any("churn" in r for r in t.risk.reasons)


@pytest.mark.parametrize(("item", "most_urgent"), [
    (TriageInput(text="Please send the invoice ASAP"), Priority.P2),
    (TriageInput(text="紧急！订单还没发货"), Priority.P2),
    (TriageInput(text="Outage: the whole site is down for all users"), Priority.P1),
    (TriageInput(text="退款¥5000还没到账"), Priority.P2),
    (TriageInput(text="Where is my order?", recent_contacts=3), Priority.P2),
])
def test_priority_rules_raise_priority(triager: Triager, item: TriageInput, most_urgent: Priority) -> None:
    t = triager.triage([item])[0]
    assert t.priority.rank <= most_urgent.rank, t.priority_reasons


def test_vip_is_one_step_more_urgent(triager: Triager) -> None:
    plain, vip = triager.triage([TriageInput(text="这款耳机有降噪吗"),
                                 TriageInput(text="这款耳机有降噪吗", customer_tier="VIP")])
    assert vip.priority.rank == plain.priority.rank - 1
    assert "customer tier: VIP" in vip.priority_reasons


def test_rules_only_raise_never_lower(triager: Triager) -> None:
    calm = triager.triage([TriageInput(text="Hi, what are your opening hours?")])[0]
    assert calm.priority.rank >= 3
    assert calm.priority_reasons[0].startswith("model:")


def test_rules_file_is_validated(tmp_path: Path) -> None:
    bad = tmp_path / "rules.yaml"
    bad.write_text("urgent: [紧急]\nunknown_key: 1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="invalid triage rules"):
        load_rules(bad)


def test_admin_edited_rules_take_effect(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("legal: [黑猫]\nrepeat_contacts_risk: 0\n"
                     "risk_context: {explicit: {legal_regulator: [黑猫投诉]}}\n", encoding="utf-8")
    triager = Triager.load(rules=rules)
    flagged, calm = triager.triage([TriageInput(text="我要去黑猫投诉"), TriageInput(text="黑猫警长有货吗")])
    assert flagged.risk.high and any("黑猫" in r for r in flagged.risk.reasons)
    assert flagged.priority is Priority.P1       # the legal lexicon still raises priority
    assert not calm.risk.high


@pytest.mark.parametrize("text", [
    "I will take you to court and my lawyer will call, fix this ASAP!!!",
    "再不处理我就找律师起诉你们，马上给我回复！",
    "I'm not going to sue anyone, I just need the invoice.",
])
def test_phrase_signals_are_the_same_in_a_long_text(text: str) -> None:
    # past _SETS_FROM characters the matcher pre-tests keys against the text's word and
    # character sets instead of substring scans: the signals found must not change
    matcher = PhraseMatcher(load_rules())
    short = [(s.kind, s.phrase) for s in matcher.signals(text)]
    filler = "The parcel arrived in a box and the colour matches the photo. " * 8
    assert len(filler) > _SETS_FROM
    assert [(s.kind, s.phrase) for s in matcher.signals(filler + text)] == short
    assert [(s.kind, s.phrase) for s in matcher.signals(text + "\n" + filler)] == short
