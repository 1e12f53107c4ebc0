"""Routing: which skill queue a ticket enters, from its triage and where it came from.

Rules are tried in order and the first whose conditions all hold wins; an empty condition
matches anything. Tickets whose topic confidence is below `min_confidence` go to the general
triage skill instead of a guessed one, so a person sorts them."""

from __future__ import annotations

import msgspec

from deskgate.models.triage import Triage


class RoutingRule(msgspec.Struct, kw_only=True, frozen=True):
    skill: str
    topics: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    priorities: tuple[str, ...] = ()
    tiers: tuple[str, ...] = ()
    high_risk: bool | None = None

    def matches(self, triage: Triage, channel: str, account: str, tier: str) -> bool:
        return ((not self.topics or triage.topic in self.topics)
                and (not self.languages or triage.language in self.languages)
                and (not self.channels or channel in self.channels)
                and (not self.accounts or account in self.accounts)
                and (not self.priorities or triage.priority in self.priorities)
                and (not self.tiers or tier in self.tiers)
                and (self.high_risk is None or triage.risk.high == self.high_risk))


class RoutingTable(msgspec.Struct, kw_only=True, frozen=True):
    rules: tuple[RoutingRule, ...] = ()
    default_skill: str = "general"
    triage_skill: str = "triage"
    min_confidence: float = 0.0

    def route(self, triage: Triage, *, channel: str, account: str, tier: str = "standard",
              skill_hint: str = "") -> str:
        unsure = triage.confidence < self.min_confidence
        for rule in self.rules:
            if rule.topics and unsure:
                continue  # a guessed topic must not pick the skill
            if rule.matches(triage, channel, account, tier):
                return rule.skill
        if unsure:
            return self.triage_skill
        return skill_hint or self.default_skill
