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
from deskgate.models.triage import Entity, Risk, RiskCategory, TriageInput
from deskgate.triage.entities import money_value


class RiskContext(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The context rules around the risk model (see triage/risk.py)."""

    negated: tuple[str, ...] = ()        # denials ("nobody was hurt"): masked before scoring
    innocent: tuple[str, ...] = ()       # occupations, product names, idioms: masked
    questions: tuple[str, ...] = ()      # a message containing one of these asks something …
    policy: tuple[str, ...] = ()         # … and with one of these, it asks about a policy
    question_threshold: float = 0.9      # what a category needs in a policy question
    explicit: dict[str, tuple[str, ...]] = {}  # category -> phrases that flag it on their own
    report_floor: float = 0.2            # categories scoring below this are not listed


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
    # Strong negative sentiment as a risk on its own: off by default, since an angry message
    # about a late parcel is not a danger (it flagged most ordinary complaints)
    sentiment_risk: bool = False
    strong_negative: float = 0.9         # P(negative) at or above this, with an anger word: risky
    very_strong_negative: float = 0.97   # P(negative) at or above this is risky on its own
    anger_words_strong: int = 2          # this many distinct anger words in a negative message
    high_risk_priority: int = 2          # a high-risk ticket is at least this urgent (0: off)
    urgent_risk: tuple[str, ...] = ("self_harm",)  # flagged: P1, first in the review queue
    risk_context: RiskContext = RiskContext()


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


_ASCII_WORD = re.compile(r"[a-z0-9]+")
_SETS_FROM = 300  # characters


class PhraseMatcher:
    """Every phrase of every lexicon, each checked first by a cheap test of its longest word
    on the lower-cased text and only then by its boundary-aware regex; a message that mentions
    none of ~200 phrases costs a few µs. A key of Latin letters and digits must occur as a
    whole run of them (the regex fences it with whitespace or `(?<![A-Za-z0-9])`), so it is
    looked up in the set of the text's runs; any other key needs its first character in the
    text before the substring test (each of ~200 substring scans of a 2.5 KB email costs ~1 µs)."""

    def __init__(self, rules: RulesConfig) -> None:
        self._phrases: list[tuple[str, str, re.Pattern[str], bool]] = []
        for kind in _LEXICONS:
            for phrase in dict.fromkeys(p.strip() for p in getattr(rules, kind) if p.strip()):
                key = max(phrase.lower().split(), key=len)
                self._phrases.append((kind, key, phrase_regex([phrase]),
                                      _ASCII_WORD.fullmatch(key) is not None))
        # Longest phrases first, so that a phrase's own words do not fire on their own.
        self._phrases.sort(key=lambda item: -len(item[2].pattern))
        negs = [n for n in rules.negations if n.strip()]
        self._negation = phrase_regex(negs, suffix=r"\W{0,3}$") if negs else None

    def signals(self, text: str) -> list[Signal]:
        low = text.lower()
        # (on a short message the plain substring tests cost less than building the sets)
        long = len(low) > _SETS_FROM
        words = set(_ASCII_WORD.findall(low)) if long else set()
        chars = set(low) if long else set()
        found: list[Signal] = []
        taken: list[tuple[int, int]] = []  # "court" inside "take you to court" is one signal
        for kind, key, regex, is_word in self._phrases:
            if long and (key not in words if is_word else key[0] not in chars) or key not in low:
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


def phrase_regex(phrases: list[str], suffix: str = "") -> re.Pattern[str]:
    """One case-insensitive regex for a list of phrases: any run of whitespace between words,
    Latin ends fenced so that a phrase never fires inside a longer word."""
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
    risk_categories: tuple[RiskCategory, ...] = (),
) -> Decision:
    """Combine the priority classifier with the rules (rules only ever make a ticket more urgent)
    and decide the risk flag from the risk model's categories (`risk.RiskAssessor`) and the
    customer's repeated contacts. Reasons quote the words that fired."""
    by_kind: dict[str, list[str]] = {}
    for s in signals:
        by_kind.setdefault(s.kind, []).append(s.phrase)

    def quoted(kind: str) -> str:
        words = list(dict.fromkeys(by_kind[kind]))[:3]
        return f"{_REASON.get(kind, kind)}: " + ", ".join(f"“{w}”" for w in words)

    is_vip = item.customer_tier.lower() in rules.vip_tiers
    if is_vip and "churn" in by_kind:
        risk_categories = _vip_churn(risk_categories, quoted("churn"), item.customer_tier)
    flagged = [c for c in risk_categories if c.flagged]
    r_reasons: list[str] = [f"{c.name.replace('_', ' ')} ({c.score:.2f})"
                            + (": " + "; ".join(c.reasons) if c.reasons else "") for c in flagged]
    urgent = [c.name for c in flagged if c.name in rules.urgent_risk]
    n_contact = item.recent_contacts + 1
    if rules.repeat_contacts_risk and n_contact >= rules.repeat_contacts_risk:
        r_reasons.append(f"repeated contact: contact #{n_contact} while unresolved")
    anger = list(dict.fromkeys(w.lower() for w in by_kind.get("anger", ())))
    if rules.sentiment_risk and sentiment is Sentiment.NEGATIVE and (
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

    for name in urgent:
        at_least(1, f"{name.replace('_', ' ')}: a manager must see this at once")
    for kind, target in (("outage", 1), ("legal", 1), ("media", 2), ("urgent", 2), ("churn", 2)):
        if kind in by_kind:
            at_least(target, quoted(kind))
    refund_over = _refund_over_threshold(rules, entities) if topic in rules.refund_topics else ""
    if refund_over:
        at_least(2, refund_over)
    if r_reasons and rules.high_risk_priority:
        at_least(rules.high_risk_priority, "high risk")
    if is_vip:
        at_least(max(1, rank - 1), f"customer tier: {item.customer_tier}")
    if rules.repeat_contacts_raise and item.recent_contacts >= rules.repeat_contacts_raise:
        at_least(max(1, rank - 1), f"repeated contact: {item.recent_contacts} earlier unresolved")

    score = max((c.score for c in risk_categories), default=0.0)
    risk = Risk(high=bool(r_reasons), score=round(score, 3), reasons=tuple(r_reasons),
                categories=risk_categories, urgent=bool(urgent))
    return Decision(Priority(f"P{rank}"), tuple(p_reasons), risk)


def _vip_churn(categories: tuple[RiskCategory, ...], why: str,
               tier: str) -> tuple[RiskCategory, ...]:
    """A high-value customer (their tier) who says they are leaving: churn_high_value flags
    whatever its score, since the text alone rarely says how much the customer is worth."""
    name = "churn_high_value"
    old = next((c for c in categories if c.name == name), None)
    rule = f"{why}, customer tier {tier}"
    new = RiskCategory(name=name, score=old.score if old else 0.0,
                       threshold=old.threshold if old else 0.0, flagged=True,
                       reasons=(*(old.reasons if old else ()), rule))
    return (new, *(c for c in categories if c.name != name))


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
