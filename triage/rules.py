"""Explicit, admin-editable priority and risk rules.

The classifiers say what a message is about and how it sounds; these rules say what the business
has decided must never be missed: a VIP, a legal threat, an outage, a churning customer, the
fifth contact about the same problem. They are data (YAML, `RulesConfig`), matched as phrases
over the cleaned text, and every rule that fires leaves a human-readable reason on the Triage.

Phrases are matched case-insensitively; a Latin phrase must stand as whole words (so "sue" does
not fire inside "issue"), a Chinese phrase anywhere. A phrase preceded by a short negation
("not going to cancel", "不会投诉") does not fire.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import msgspec
import yaml

from deskgate.models.enums import Priority, Sentiment
from deskgate.models.triage import Entity, Risk, TriageInput
from deskgate.triage.entities import money_value


class RulesConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # lexicons: signal name -> phrases (zh and en in one list)
    urgent: tuple[str, ...] = ()
    outage: tuple[str, ...] = ()
    legal: tuple[str, ...] = ()          # lawyers, courts, regulators, consumer associations
    media: tuple[str, ...] = ()          # going public: press, social media exposure
    churn: tuple[str, ...] = ()
    anger: tuple[str, ...] = ()          # intensity words that make negative sentiment "strong"
    negations: tuple[str, ...] = ()
    # priority
    vip_tiers: tuple[str, ...] = ("vip", "gold", "platinum", "enterprise")
    refund_threshold: dict[str, float] = msgspec.field(default_factory=dict)  # currency -> amount
    refund_topics: tuple[str, ...] = ("returns_refunds", "billing")  # where an amount is a claim
    repeat_contacts_raise: int = 2       # this many earlier unresolved contacts raise priority
    # risk
    repeat_contacts_risk: int = 3        # the N-th unresolved contact within the window is risky
    strong_negative: float = 0.9         # P(negative) at or above this, with an anger word, is risky
    very_strong_negative: float = 0.97   # P(negative) at or above this is risky on its own
    anger_words_strong: int = 2          # this many distinct anger words in a negative message
    high_risk_priority: int = 2          # a high-risk ticket is at least this urgent (0: off)


def default_rules_path() -> Path:
    # Path(__file__), not importlib.resources: deskgate.triage is a namespace-mapped package and
    # resources.files() cannot resolve it under an editable install.
    return Path(__file__).parent / "data" / "rules.yaml"


def load_rules(path: Path | None = None) -> RulesConfig:
    """Read and validate a rules file; an unknown key or a wrong type is a clear error."""
    path = path or default_rules_path()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return msgspec.convert(raw, RulesConfig)
    except (yaml.YAMLError, msgspec.ValidationError) as exc:
        raise ValueError(f"invalid triage rules in {path}: {exc}") from exc


_LEXICONS = ("urgent", "outage", "legal", "media", "churn", "anger")


@dataclass(frozen=True, slots=True)
class Signal:
    kind: str      # one of _LEXICONS
    phrase: str    # as written in the message


class PhraseMatcher:
    """Every phrase of every lexicon, each checked first by a plain substring test of its
    longest word on the lower-cased text (C speed) and only then by its boundary-aware regex;
    a message that mentions none of ~200 phrases costs a few µs."""

    def __init__(self, rules: RulesConfig) -> None:
        self._phrases: list[tuple[str, str, re.Pattern[str]]] = []
        for kind in _LEXICONS:
            for phrase in dict.fromkeys(p.strip() for p in getattr(rules, kind) if p.strip()):
                key = max(phrase.lower().split(), key=len)
                self._phrases.append((kind, key, _alternation([phrase])))
        # Longest phrases first, so that a phrase's own words do not fire on their own.
        self._phrases.sort(key=lambda item: -len(item[2].pattern))
        negs = [n for n in rules.negations if n.strip()]
        self._negation = _alternation(negs, suffix=r"\W{0,3}$") if negs else None

    def signals(self, text: str) -> list[Signal]:
        low = text.lower()
        found: list[Signal] = []
        taken: list[tuple[int, int]] = []  # "court" inside "take you to court" is one signal
        for kind, key, regex in self._phrases:
            if key not in low:
                continue
            for m in regex.finditer(text):
                start, end = m.span()
                if any(s <= start and end <= e for s, e in taken):
                    continue
                before = text[max(0, start - 24) : start]
                if self._negation is not None and self._negation.search(before):
                    continue
                taken.append((start, end))
                found.append(Signal(kind, m.group()))
        return found


def _alternation(phrases: list[str], suffix: str = "") -> re.Pattern[str]:
    parts = []
    for p in sorted(set(phrases), key=len, reverse=True):
        body = r"\s+".join(re.escape(w) for w in p.split())
        if p[0].isascii() and p[0].isalnum():
            body = r"(?<![A-Za-z0-9])" + body
        if p[-1].isascii() and p[-1].isalnum():
            body += r"(?![A-Za-z0-9])"
        parts.append(body)
    return re.compile("(?:" + "|".join(parts) + ")" + suffix, re.I)


@dataclass(frozen=True, slots=True)
class Decision:
    priority: Priority
    priority_reasons: tuple[str, ...]
    risk: Risk


_REASON = {
    "legal": "legal/regulator threat",
    "media": "threat to go public",
    "churn": "churn intent",
    "outage": "outage reported",
    "urgent": "urgency words",
}


def decide(
    rules: RulesConfig,
    item: TriageInput,
    signals: list[Signal],
    entities: tuple[Entity, ...],
    topic: str,
    model_priority: Priority,
    sentiment: Sentiment,
    p_negative: float,
) -> Decision:
    """Combine the priority classifier with the rules (rules only ever make a ticket more urgent)
    and decide the risk flag. Reasons quote the words that fired."""
    by_kind: dict[str, list[str]] = {}
    for s in signals:
        by_kind.setdefault(s.kind, []).append(s.phrase)

    def quoted(kind: str) -> str:
        words = list(dict.fromkeys(by_kind[kind]))[:3]
        return f"{_REASON.get(kind, kind)}: " + ", ".join(f"“{w}”" for w in words)

    r_reasons: list[str] = [quoted(k) for k in ("legal", "media", "churn") if k in by_kind]
    n_contact = item.recent_contacts + 1
    if rules.repeat_contacts_risk and n_contact >= rules.repeat_contacts_risk:
        r_reasons.append(f"repeated contact: contact #{n_contact} while unresolved")
    anger = list(dict.fromkeys(w.lower() for w in by_kind.get("anger", ())))
    if sentiment is Sentiment.NEGATIVE and (
        p_negative >= rules.very_strong_negative
        or (p_negative >= rules.strong_negative and anger)
        or (rules.anger_words_strong and len(anger) >= rules.anger_words_strong)
    ):
        why = f"strong negative sentiment ({p_negative:.2f})"
        if anger:
            why += ": " + ", ".join(f"“{w}”" for w in anger[:3])
        r_reasons.append(why)

    rank = model_priority.rank
    p_reasons: list[str] = [f"model: {model_priority.value}"]

    def at_least(target: int, why: str) -> None:
        nonlocal rank
        if target < rank:
            rank = target
        p_reasons.append(why)

    for kind, target in (("outage", 1), ("legal", 1), ("media", 2), ("urgent", 2), ("churn", 2)):
        if kind in by_kind:
            at_least(target, quoted(kind))
    refund_over = _refund_over_threshold(rules, entities) if topic in rules.refund_topics else ""
    if refund_over:
        at_least(2, refund_over)
    if r_reasons and rules.high_risk_priority:
        at_least(rules.high_risk_priority, "high risk")
    if item.customer_tier.lower() in rules.vip_tiers:
        at_least(max(1, rank - 1), f"customer tier: {item.customer_tier}")
    if rules.repeat_contacts_raise and item.recent_contacts >= rules.repeat_contacts_raise:
        at_least(max(1, rank - 1), f"repeated contact: {item.recent_contacts} earlier unresolved")

    score = min(1.0, 0.5 * len(r_reasons) + (0.3 * p_negative if sentiment is Sentiment.NEGATIVE else 0.0))
    risk = Risk(high=bool(r_reasons), score=round(score if r_reasons else min(score, 0.49), 3),
                reasons=tuple(r_reasons))
    return Decision(Priority(f"P{rank}"), tuple(p_reasons), risk)


def _refund_over_threshold(rules: RulesConfig, entities: tuple[Entity, ...]) -> str:
    for e in entities:
        if e.label != "MONEY":
            continue
        parsed = money_value(e.value)
        if parsed is None:
            continue
        code, amount = parsed
        limit = rules.refund_threshold.get(code or "CNY")
        if limit is not None and amount >= limit:
            return f"amount {e.text} ≥ {code or 'CNY'} {limit:g}"
    return ""
