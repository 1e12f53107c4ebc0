"""What triage says about a ticket, and what it needs to know to say it."""

from __future__ import annotations

import msgspec

from deskgate.models.enums import Channel, Priority, Sentiment


class Entity(msgspec.Struct, frozen=True, omit_defaults=True):
    label: str          # ORDER_ID, TRACKING_NO, PHONE, EMAIL, MONEY, PRODUCT_MODEL, DATE, …
    text: str           # as written
    start: int          # character offsets into the triaged text
    end: int
    value: str = ""     # normalized (E.164 phone, "CNY 1299.00", carrier:number, …)


class RiskCategory(msgspec.Struct, frozen=True):
    """One kind of risk the model scored: legal_regulator, self_harm, … (triage/risk.py)."""

    name: str
    score: float                        # calibrated probability
    threshold: float                    # the score at which it flags (higher in a policy question)
    flagged: bool                       # score >= threshold, or an explicit rule
    reasons: tuple[str, ...] = ()       # the words that drove it, and every context rule that fired


class Risk(msgspec.Struct, frozen=True):
    high: bool
    score: float = 0.0
    reasons: tuple[str, ...] = ()       # one line per flagged category or rule, for people
    categories: tuple[RiskCategory, ...] = ()  # flagged first, then those worth a look
    urgent: bool = False                # a category that must reach a manager at once (self-harm)


class Triage(msgspec.Struct, frozen=True, kw_only=True):
    language: str                       # ISO 639-1 ("zh", "en", …) or "und"
    topic: str
    confidence: float                   # calibrated probability of `topic`
    priority: Priority
    sentiment: Sentiment
    sentiment_score: float = 0.0        # -1 (very negative) … 1 (very positive)
    risk: Risk = Risk(high=False)
    topic_keywords: tuple[str, ...] = ()  # words/phrases that drove the topic
    priority_reasons: tuple[str, ...] = ()
    entities: tuple[Entity, ...] = ()
    model_version: str = ""


class TriageInput(msgspec.Struct, frozen=True, kw_only=True):
    """Everything triage may look at for one message; built by the worker."""

    text: str
    subject: str = ""
    channel: Channel = Channel.API
    account: str = ""
    customer_tier: str = "standard"
    recent_contacts: int = 0            # this customer's unresolved contacts in the risk window
