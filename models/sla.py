"""SLA policies and business-hours calendars: the pure rules.

A policy (first match on priority, customer tier, account) sets a first-response and a
resolution target. Targets count business time in the calendar of the team that owns the
ticket's skill (its time zone, opening hours and holidays), unless the policy runs around the
clock. `timers` turns the business time left on each clock into the instants when it warns and
breaches; queue/sla.py keeps those instants in Redis and acts on them."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from deskgate.models.enums import Priority
from deskgate.models.routing import check_skill, split_queue

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
MAX_CALENDAR_DAYS = 3 * 366          # a target never reaches further than this


class Calendar(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True,
               dict=True):
    """Opening hours in a time zone: {"mon": ["09:00-12:00", "13:00-18:00"], ...}."""

    timezone: str = "UTC"
    hours: dict[str, tuple[str, ...]] = msgspec.field(default_factory=lambda: {
        d: ("09:00-18:00",) for d in DAYS[:5]})
    holidays: tuple[str, ...] = ()        # "YYYY-MM-DD", local dates

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {self.timezone!r}") from exc
        for day, windows in self.hours.items():
            if day not in DAYS:
                raise ValueError(f"hours: {day!r} is not one of {', '.join(DAYS)}")
            for w in windows:
                m = _WINDOW.match(w)
                if not m or not (0 <= int(m[1]) * 60 + int(m[2])
                                 < int(m[3]) * 60 + int(m[4]) <= 24 * 60):
                    raise ValueError(f"hours.{day}: {w!r} is not a window like 09:00-18:00")
        for h in self.holidays:
            try:
                date.fromisoformat(h)
            except ValueError as exc:
                raise ValueError(f"holiday {h!r} is not a YYYY-MM-DD date") from exc
        if not any(self.hours.values()):
            raise ValueError("hours: a calendar needs at least one opening window")

    @cached_property
    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def _closed(self) -> frozenset[date]:
        return frozenset(date.fromisoformat(h) for h in self.holidays)

    @cached_property
    def _windows(self) -> dict[int, list[tuple[int, int]]]:
        out: dict[int, list[tuple[int, int]]] = {}
        for day, windows in self.hours.items():
            spans = []
            for w in windows:
                m = _WINDOW.match(w)
                assert m is not None
                spans.append((int(m[1]) * 60 + int(m[2]), int(m[3]) * 60 + int(m[4])))
            out[DAYS.index(day)] = sorted(spans)
        return out

    def _open_spans(self, start: float) -> Iterable[tuple[float, float]]:
        """Opening windows as epoch spans, from the day of `start` on."""
        day = datetime.fromtimestamp(start, self._zone).date()
        midnight = datetime.min.time()
        for _ in range(MAX_CALENDAR_DAYS):
            if day not in self._closed:
                base = datetime.combine(day, midnight, self._zone)
                for a, b in self._windows.get(day.weekday(), ()):
                    # wall-clock arithmetic on an aware datetime, then the zone maps it to
                    # an instant: a window keeps its local hours across DST changes
                    lo = (base + timedelta(minutes=a)).timestamp()
                    hi = (base + timedelta(minutes=b)).timestamp()
                    if hi > start:
                        yield max(lo, start), hi
            day += timedelta(days=1)

    def add(self, start: float, seconds: float) -> float:
        """The instant when `seconds` of business time have passed after `start`."""
        left = seconds
        for lo, hi in self._open_spans(start):
            if hi - lo >= left:
                return lo + left
            left -= hi - lo
        raise ValueError("the target lies beyond the calendar's horizon")

    def between(self, a: float, b: float) -> float:
        """Business seconds in [a, b]."""
        total = 0.0
        if b <= a:
            return 0.0
        for lo, hi in self._open_spans(a):
            if lo >= b:
                break
            total += min(hi, b) - lo
        return total


ALWAYS_OPEN = Calendar(hours={d: ("00:00-24:00",) for d in DAYS})


class Team(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    skills: tuple[str, ...] = ()
    managers: tuple[str, ...] = ()         # manager ids (the agent_id of their tokens)
    calendar: Calendar = Calendar()
    escalation_skill: str = ""
    webhook_url: str = ""                  # breach/warning notifications, HMAC-signed
    webhook_secret: str = ""

    def __post_init__(self) -> None:
        for s in self.skills:
            check_skill(s)
        if self.escalation_skill:
            check_skill(self.escalation_skill, "escalation_skill")
        if self.webhook_url and not self.webhook_url.startswith(("http://", "https://")):
            raise ValueError("webhook_url must be an http(s) URL")
        if self.webhook_url and len(self.webhook_secret) < 16:
            raise ValueError("a webhook needs a webhook_secret of at least 16 characters")


class SlaPolicy(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    name: str
    priorities: tuple[Priority, ...] = ()
    tiers: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    first_response_minutes: float
    resolution_minutes: float
    business_hours: bool = True            # False: the clock runs around the clock
    warn_at: float = 0.8                   # warn when this share of the target has passed
    escalation_skill: str = ""             # overrides the team's

    def __post_init__(self) -> None:
        if self.first_response_minutes <= 0 or self.resolution_minutes <= 0:
            raise ValueError(f"policy {self.name!r}: targets must be positive minutes")
        if not 0.0 < self.warn_at < 1.0:
            raise ValueError(f"policy {self.name!r}: warn_at must be between 0 and 1")
        if self.escalation_skill:
            check_skill(self.escalation_skill, "escalation_skill")

    def matches(self, priority: str, tier: str, account: str) -> bool:
        return ((not self.priorities or priority in self.priorities)
                and (not self.tiers or tier in self.tiers)
                and (not self.accounts or account in self.accounts))


DEFAULT_POLICIES = (
    SlaPolicy(name="urgent", priorities=(Priority.P1,), first_response_minutes=60,
              resolution_minutes=8 * 60, business_hours=False),
    SlaPolicy(name="high", priorities=(Priority.P2,), first_response_minutes=4 * 60,
              resolution_minutes=24 * 60),
    SlaPolicy(name="normal", priorities=(Priority.P3,), first_response_minutes=8 * 60,
              resolution_minutes=72 * 60),
    SlaPolicy(name="low", first_response_minutes=24 * 60, resolution_minutes=120 * 60),
)


class SlaConfig(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """The `sla:` section of the config: teams, SLA policies, the sweeper's period."""

    teams: dict[str, Team] = msgspec.field(default_factory=dict)
    sla: tuple[SlaPolicy, ...] = DEFAULT_POLICIES
    sweep_seconds: float = 1.0

    def __post_init__(self) -> None:
        owner: dict[str, str] = {}
        for name, team in self.teams.items():
            for s in team.skills:
                if s in owner:
                    raise ValueError(f"skill {s!r} belongs to teams {owner[s]!r} and {name!r}")
                owner[s] = name
        if not self.sla:
            raise ValueError("sla: give at least one policy")
        if not 0.1 <= self.sweep_seconds <= 60:
            raise ValueError("sweep_seconds must be 0.1-60")

    def team_of(self, queue: str) -> tuple[str, Team | None]:
        skill = split_queue(queue)[0]
        for name, team in self.teams.items():
            if skill in team.skills:
                return name, team
        return "", None

    def policy(self, priority: str, tier: str, account: str) -> SlaPolicy:
        for p in self.sla:
            if p.matches(priority, tier, account):
                return p
        return self.sla[-1]


def clock(policy: SlaPolicy, team: Team | None) -> Calendar:
    """The calendar a policy's clocks count in: the team's, or around the clock."""
    if not policy.business_hours:
        return ALWAYS_OPEN
    return team.calendar if team else Calendar()


def timers(policy: SlaPolicy, team: Team | None, now: float,
           remaining: dict[str, float]) -> tuple[dict[str, float], dict[str, float]]:
    """({member: when}, {"frt_due"|"res_due": when}) for the clocks in `remaining`
    (kind -> business seconds left); a member is "<kind>|warn" or "<kind>|breach"."""
    cal = clock(policy, team)
    targets = {"frt": policy.first_response_minutes * 60, "res": policy.resolution_minutes * 60}
    members: dict[str, float] = {}
    dues: dict[str, float] = {}
    for kind, left in remaining.items():
        due = cal.add(now, left)
        members[f"{kind}|breach"] = dues[f"{kind}_due"] = due
        warn_left = left - (1 - policy.warn_at) * targets[kind]
        if warn_left > 0:
            members[f"{kind}|warn"] = cal.add(now, warn_left)
    return members, dues
