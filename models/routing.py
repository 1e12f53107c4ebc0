"""Routing: which skill queue a ticket enters, from its triage and where it came from.

Rules are tried in order and the first whose conditions all hold wins; an empty condition
matches anything. Tickets whose topic confidence is below `min_confidence` go to the general
triage skill instead of a guessed one, so a person sorts them.

A rule may require a skill level: its tickets then wait in the queue "<skill>@<level>", which
only agents with at least that level on the skill take (see lua/claim.lua). Overflow: when a
skill's online agents are loaded above `max_load` or its oldest ticket waits longer than
`max_wait_minutes`, new work goes to the backup skill until the pressure falls below
`return_below` again (hysteresis, so routing does not flap on every ticket).

These are the pure rules; the live table and the overflow state are kept in Redis by
queue/routing.py (RoutingStore)."""

from __future__ import annotations

import re

import msgspec

from deskgate.models.enums import Priority, Sentiment
from deskgate.models.triage import Triage

SKILL_NAME = re.compile(r"^[\w-]{1,48}$")
MAX_LEVEL = 5
MAX_RULES = 500


def check_skill(name: str, what: str = "skill") -> None:
    if not SKILL_NAME.match(name):
        raise ValueError(f"{what} {name!r} must be 1-48 letters, digits, '_' or '-'")


def queue_name(skill: str, level: int = 1) -> str:
    """The queue a ticket waits in: the skill, or "<skill>@<level>" when it needs a level."""
    return skill if level <= 1 else f"{skill}@{level}"


def split_queue(name: str) -> tuple[str, int]:
    skill, _, level = name.partition("@")
    return skill, int(level) if level.isdigit() else 1


def _check_values(values: tuple[str, ...], allowed: set[str], what: str) -> None:
    bad = [v for v in values if v not in allowed]
    if bad:
        raise ValueError(f"{what}: unknown {', '.join(map(repr, bad))}; "
                         f"use {', '.join(sorted(allowed))}")


class RoutingRule(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True,
                  omit_defaults=True):
    skill: str
    name: str = ""                        # shown in the audit trail and in errors
    topics: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    priorities: tuple[str, ...] = ()
    tiers: tuple[str, ...] = ()
    sentiments: tuple[str, ...] = ()
    high_risk: bool | None = None
    entities: tuple[str, ...] = ()       # every listed entity label must be present
    min_level: int = 1                    # agents need at least this level on `skill`

    def __post_init__(self) -> None:
        check_skill(self.skill)
        _check_values(self.priorities, {p.value for p in Priority}, "priorities")
        _check_values(self.sentiments, {s.value for s in Sentiment}, "sentiments")
        if not 1 <= self.min_level <= MAX_LEVEL:
            raise ValueError(f"min_level must be 1-{MAX_LEVEL}, got {self.min_level}")

    def matches(self, triage: Triage, channel: str, account: str, tier: str) -> bool:
        labels = {e.label for e in triage.entities} if self.entities else set()
        return ((not self.topics or triage.topic in self.topics)
                and (not self.languages or triage.language in self.languages)
                and (not self.channels or channel in self.channels)
                and (not self.accounts or account in self.accounts)
                and (not self.priorities or triage.priority in self.priorities)
                and (not self.tiers or tier in self.tiers)
                and (not self.sentiments or triage.sentiment in self.sentiments)
                and (self.high_risk is None or triage.risk.high == self.high_risk)
                and all(label in labels for label in self.entities))


class Overflow(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True,
               omit_defaults=True):
    backup: str
    max_load: float = 0.8                 # held / capacity of the skill's online agents
    max_wait_minutes: float = 0.0         # 0 = do not overflow on waiting time
    return_below: float | None = None     # default: max_load - 0.1

    def __post_init__(self) -> None:
        check_skill(self.backup, "backup skill")
        if not 0.0 < self.max_load <= 1.0:
            raise ValueError(f"max_load must be in (0, 1], got {self.max_load}")
        if self.max_wait_minutes < 0:
            raise ValueError("max_wait_minutes must be >= 0")
        if self.return_below is not None and not 0.0 <= self.return_below <= self.max_load:
            raise ValueError("return_below must be between 0 and max_load")

    @property
    def release_load(self) -> float:
        return self.return_below if self.return_below is not None else self.max_load - 0.1


class Route(msgspec.Struct, frozen=True):
    skill: str                            # the skill itself, after overflow
    level: int = 1
    rule: str = ""
    overflowed_from: str = ""

    @property
    def queue(self) -> str:
        return queue_name(self.skill, self.level)


class RoutingTable(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True,
                   omit_defaults=True):
    rules: tuple[RoutingRule, ...] = ()
    default_skill: str = "general"
    triage_skill: str = "triage"
    min_confidence: float = 0.0
    overflow: dict[str, Overflow] = msgspec.field(default_factory=dict)
    push_skills: tuple[str, ...] = ()     # assigned to the least-loaded agent, not pulled

    def __post_init__(self) -> None:
        check_skill(self.default_skill, "default_skill")
        check_skill(self.triage_skill, "triage_skill")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be in [0, 1], got {self.min_confidence}")
        if len(self.rules) > MAX_RULES:
            raise ValueError(f"at most {MAX_RULES} rules")
        for skill in [*self.overflow, *self.push_skills]:
            check_skill(skill)
        for skill, ov in self.overflow.items():
            seen, cur = [skill], ov.backup
            while cur in self.overflow or cur == skill:
                if cur in seen:
                    raise ValueError(f"overflow of {skill!r} loops: "
                                     f"{' -> '.join([*seen, cur])}")
                seen.append(cur)
                cur = self.overflow[cur].backup

    def decide(self, triage: Triage, *, channel: str, account: str, tier: str = "standard",
               skill_hint: str = "") -> Route:
        unsure = triage.confidence < self.min_confidence
        for i, rule in enumerate(self.rules):
            if rule.topics and unsure:
                continue  # a guessed topic must not pick the skill
            if rule.matches(triage, channel, account, tier):
                return Route(rule.skill, rule.min_level, rule.name or f"rules[{i}]")
        if unsure:
            return Route(self.triage_skill, 1, "unsure")
        return Route(skill_hint or self.default_skill, 1, "hint" if skill_hint else "default")

    def route(self, triage: Triage, *, channel: str, account: str, tier: str = "standard",
              skill_hint: str = "") -> str:
        return self.decide(triage, channel=channel, account=account, tier=tier,
                           skill_hint=skill_hint).queue


class Pressure(msgspec.Struct, frozen=True):
    skill: str
    capacity: int          # summed over the skill's online agents
    held: int
    oldest_wait: float     # seconds, among the tickets at the head of the queue
    depth: int

    @property
    def load(self) -> float:
        # no one online: every new ticket would wait, which is full pressure
        return self.held / self.capacity if self.capacity else 1.0
