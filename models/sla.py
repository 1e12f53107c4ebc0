"""SLA policies, business-hours calendars and the timers that enforce them.

A policy (first match on priority, customer tier, account) sets a first-response and a
resolution target. Targets count business time in the calendar of the team that owns the
ticket's skill (its time zone, opening hours and holidays), unless the policy runs around the
clock. Each running clock is two members of the {p}sla:due ZSET — "<ticket>|frt|warn" and
"<ticket>|frt|breach" — scored by when they fire, so one sweep takes what is due with a single
range query however many clocks run. A pending ticket (waiting on the customer) has its
clocks removed and the business time they had left stored; when the customer answers, the
clocks restart with that time left."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
import redis.asyncio as aioredis

from deskgate.models.enums import Priority
from deskgate.queue.audit import work_script
from deskgate.queue.keys import Keys
from deskgate.models.routing import check_skill, split_queue
from deskgate.queue.scripts import lua
from deskgate.queue.work import BOOSTS_JSON

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
MAX_CALENDAR_DAYS = 3 * 366          # a target never reaches further than this
SWEEP_BATCH = 1000                   # timers per script call (Lua unpack stays small)


def _s(v: bytes | str | None) -> str:
    return "" if v is None else v.decode() if isinstance(v, bytes) else v


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


class WorkConfig(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """The `work:` section of the config: teams, SLA policies, the sweeper's period."""

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


# as lua/sla_facts.lua returns them
FACT_FIELDS = ("status", "priority", "skill", "account", "customer_id", "frt_done", "frt_due",
               "res_due", "sla_remaining", "sla_breached_frt", "sla_breached_res", "tier")


class SweepResult(msgspec.Struct, frozen=True):
    timers: int
    warnings: int
    breaches: int


class Sla:
    def __init__(self, client: aioredis.Redis, keys: Keys, config: WorkConfig, *,
                 lease_seconds: int = 600) -> None:
        self._r = client
        self._k = keys
        self.config = config
        self._lease = lease_seconds
        self._start = work_script(client, "sla_start")
        self._resume = work_script(client, "sla_resume")
        self._sweep = work_script(client, "sla_sweep")
        self._facts_script = client.register_script(lua("sla_facts"))

    def _clock(self, policy: SlaPolicy, team: Team | None) -> Calendar:
        if not policy.business_hours:
            return ALWAYS_OPEN
        return team.calendar if team else Calendar()

    def timers(self, policy: SlaPolicy, team: Team | None, now: float,
               remaining: dict[str, float]) -> tuple[dict[str, float], dict[str, float]]:
        """({member: when}, {"frt_due"|"res_due": when}) for the clocks in `remaining`
        (kind -> business seconds left)."""
        cal = self._clock(policy, team)
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

    async def _facts(self, ticket_ids: Sequence[str]) -> list[dict[str, str]]:
        rows = await self._facts_script(args=[self._k.p, *ticket_ids])
        return [dict(zip(FACT_FIELDS, map(_s, row), strict=True)) for row in rows]

    def _policy_team(self, row: dict[str, str]) -> tuple[SlaPolicy, str, Team | None]:
        name, team = self.config.team_of(row["skill"])
        return (self.config.policy(row["priority"] or "P3", row["tier"], row["account"]),
                name, team)

    async def start(self, ticket_ids: Sequence[str], now: float, *, action: str = "created",
                    detail: str = "", details: Sequence[str] | None = None,
                    once: bool = True) -> int:
        """Start both clocks of new tickets (idempotent with `once`) in one call; returns
        how many started. `details` gives each ticket its own audit detail."""
        if not ticket_ids:
            return 0
        rows = await self._facts(ticket_ids)
        items: list[list[object]] = []
        # a batch shares `now`, so tickets of one policy and team share their deadlines:
        # the calendar arithmetic is done once per combination, not once per ticket
        deadlines: dict[tuple[str, str, bool], tuple[dict[str, float], dict[str, float]]] = {}
        for n, (tid, row) in enumerate(zip(ticket_ids, rows, strict=True)):
            if not row["status"]:
                continue
            policy, team_name, team = self._policy_team(row)
            combo = (policy.name, team_name, bool(row["frt_done"]))
            if combo not in deadlines:
                remaining = {"res": policy.resolution_minutes * 60}
                if not row["frt_done"]:
                    remaining["frt"] = policy.first_response_minutes * 60
                deadlines[combo] = self.timers(policy, team, now, remaining)
            members, dues = deadlines[combo]
            escalate_to = policy.escalation_skill or (team.escalation_skill if team else "")
            items.append([tid, members, {"sla_policy": policy.name, "team": team_name,
                                         "sla_escalate_to": escalate_to, **dues},
                          details[n] if details is not None else detail])
        if not items:
            return 0
        return int(await self._start(args=[self._k.p, now, "1" if once else "0", action,
                                           json.dumps(items, ensure_ascii=False)]))

    async def remaining(self, ticket_id: str, now: float) -> dict[str, float]:
        """Business seconds left on each running, unbreached clock (for pausing)."""
        [row] = await self._facts([ticket_id])
        policy, _, team = self._policy_team(row)
        cal = self._clock(policy, team)
        out = {}
        for kind in ("frt", "res"):
            due = row[f"{kind}_due"]
            if due and not row[f"sla_breached_{kind}"] and not (kind == "frt" and row["frt_done"]):
                out[kind] = cal.between(now, float(due))
        return out

    async def reopen_timers(self, ticket_id: str, now: float) -> dict[str, float]:
        """A fresh resolution clock for a reopened ticket."""
        [row] = await self._facts([ticket_id])
        policy, _, team = self._policy_team(row)
        members, _ = self.timers(policy, team, now, {"res": policy.resolution_minutes * 60})
        return members

    async def resume_answered(self, now: float, batch: int = 500) -> list[str]:
        """Restart the clocks of pending tickets the customer has answered."""
        ids: list[str] = []
        cursor = 0
        while True:
            cursor, chunk = await self._r.sscan(self._k.sla_paused, cursor, count=batch)
            ids += [_s(x) for x in chunk]
            if cursor == 0 or len(ids) >= 10 * batch:
                break
        if not ids:
            return []
        resumed = []
        for tid, row in zip(ids, await self._facts(ids), strict=True):
            if row["status"] == "pending":
                continue
            policy, _, team = self._policy_team(row)
            left = {k: float(v) for k, v in json.loads(row["sla_remaining"] or "{}").items()}
            members, dues = self.timers(policy, team, now, left)
            outcome = _s(await self._resume(args=[self._k.p, tid, now, self._lease,
                                                  json.dumps(members)]))
            if outcome == "resumed":
                if dues:
                    await self._r.hset(self._k.ticket(tid), mapping=dues)
                resumed.append(tid)
        return resumed

    async def sweep(self, now: float | None = None) -> SweepResult:
        """Act on every due timer: warnings, breaches (escalation + review)."""
        now = now or time.time()
        timers = warnings = breaches = 0
        while True:
            taken, warned, breached = await self._sweep(args=[self._k.p, now, SWEEP_BATCH,
                                                              BOOSTS_JSON])
            timers, warnings, breaches = timers + taken, warnings + warned, breaches + breached
            if taken < SWEEP_BATCH:
                return SweepResult(timers, warnings, breaches)
