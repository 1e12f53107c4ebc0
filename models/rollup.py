"""The audit trail folded into report counters: the pure rules (queue/rollups.py applies them).

Each ticket carries a small `TicketFold` (when it opened, when it was first answered and
resolved, who holds it, whether a clock breached, what triage said). `fold` takes that state
and one audit entry and returns the new state and the counter increments the entry causes.
Nothing here reads a clock or Redis, so replaying the same trail gives the same counters.

Counters are kept in projections, not one cube of every dimension: a field of the main
projection is "<metric>|team|channel|priority|policy" (what reports filter and group by; the
duration histograms are a projection of their own with the same dimensions), and
the skill, topic, agent and triage projections carry team plus their own dimension; the heat
projection counts openings per UTC weekday-hour cell and team. A cube of
team x skill x channel x priority x topic x agent would hold ~100k fields a day and could not
answer a 30-day report in 200 ms; the projections hold a few thousand.

Durations are business seconds in the SLA calendar of the ticket's policy and team
(models/sla.py), minus the time the ticket waited on the customer (pending)."""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable

import msgspec

from deskgate.models.sla import Calendar

SEP = "|"
MAIN, HIST, SKILL, TOPIC, AGENT, TRIAGE, HEAT = "m", "x", "s", "t", "a", "q", "c"
# The main and duration projections again with the team as their only dimension: what a
# report reads when it neither filters nor groups by channel, priority or policy (most do),
# about a tenth of the fields (queue/rollups.py writes them beside every main/duration count)
TEAM_MAIN, TEAM_HIST = "n", "y"
PROJECTIONS = (MAIN, HIST, SKILL, TOPIC, AGENT, TRIAGE, HEAT, TEAM_MAIN, TEAM_HIST)
TEAM_OF = {MAIN: TEAM_MAIN, HIST: TEAM_HIST}
TASKS = ("topic", "priority", "sentiment")

# Upper edges (seconds) of the duration histograms; the last bin is open. A percentile is
# read as the upper edge of the bin it falls in ("p90 <= 2 h"), which a person can check.
EDGES: tuple[float, ...] = tuple(float(m * 60) for m in (
    1, 2, 3, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 240, 360, 480, 720, 960, 1440, 2160,
    2880, 4320, 5760, 7200, 10080, 20160))


def bin_of(seconds: float) -> int:
    """The histogram bin of a duration: the first edge it does not exceed."""
    return bisect.bisect_left(EDGES, max(0.0, seconds))


def clean(value: str) -> str:
    """A dimension value safe inside a field name."""
    return (value or "-").replace(SEP, "/")[:64]


class Dims(msgspec.Struct, frozen=True, array_like=True):
    """What a ticket is counted under, captured when it opened."""

    team: str
    skill: str
    channel: str
    priority: str
    topic: str
    policy: str

    def main(self) -> str:
        return SEP.join(map(clean, (self.team, self.channel, self.priority, self.policy)))


class Predicted(msgspec.Struct, frozen=True, array_like=True):
    """Triage's labels when the ticket opened: what agents' corrections are compared with."""

    topic: str = ""
    priority: str = ""
    sentiment: str = ""
    model: str = ""


class Opened(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    """Facts about a new ticket the audit entry does not carry (queue/rollups.py snapshots
    them from the ticket when the consumer first sees it)."""

    dims: Dims
    predicted: Predicted = Predicted()
    in_review: bool = False
    auto: bool = False                 # answered by an auto-reply: no survey


class TicketFold(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    # array_like: one is stored per followed ticket, and field names would double its size
    dims: Dims
    predicted: Predicted = Predicted()
    opened: float
    frt: float = 0.0
    frt_breached: bool = False
    res_breached: bool = False
    resolved: float = 0.0               # first resolution
    fcr_at: float = 0.0                 # when the FCR was counted (a reopen takes it back)
    touches: int = 0                    # transfers, waits on the customer, reopens
    paused_at: float = 0.0
    paused_s: float = 0.0               # business seconds spent waiting on the customer
    agent: str = ""                     # the last holder
    held_since: float = 0.0             # 0: nobody holds it now
    review_since: float = 0.0
    is_open: bool = True
    auto_at: float = 0.0                # when it was answered automatically (0: not, or reopened)


class Incr(msgspec.Struct, frozen=True, array_like=True):
    """Add `n` to `field` of projection `proj` in the buckets around `ts`."""

    proj: str
    ts: float
    field: str
    n: float


def team_level(i: Incr) -> Incr | None:
    """The team projection's copy of a main or duration count ("<metric>|<team>"), else None."""
    proj = TEAM_OF.get(i.proj)
    if proj is None:
        return None
    metric, team, _ = i.field.split(SEP, 2)
    return Incr(proj, i.ts, metric + SEP + team, i.n)


class Folded(msgspec.Struct, frozen=True):
    state: TicketFold | None
    incrs: tuple[Incr, ...]


CalendarOf = Callable[[str, str], Calendar]     # (policy name, team) -> its SLA calendar


def _business(cal: Calendar, a: float, b: float) -> float:
    return cal.between(a, b) if b > a else 0.0


def _held(s: TicketFold, until: float) -> list[Incr]:
    """Close the current holder's interval: handle time for the agent projection, split over
    hours so that concurrent load per hour is right."""
    if not s.held_since or not s.agent or until <= s.held_since:
        return []
    field = SEP.join(("held_s", clean(s.dims.team), clean(s.agent)))
    out, a = [], s.held_since
    while a < until:
        b = min(until, (a // 3600 + 1) * 3600)
        out.append(Incr(AGENT, a, field, b - a))
        a = b
    return out


def _m(metric: str, s: TicketFold, ts: float, n: float = 1) -> Incr:
    return Incr(MAIN, ts, metric + SEP + s.dims.main(), n)


def _by(proj: str, metric: str, s: TicketFold, ts: float, value: str, n: float = 1) -> Incr:
    return Incr(proj, ts, SEP.join((metric, clean(s.dims.team), clean(value))), n)


def _hist(metric: str, s: TicketFold, ts: float, seconds: float) -> list[Incr]:
    # durations have their own projection (same dimensions as the main one): most of the
    # fields are histogram bins, and the counters' reports need not read them
    main = s.dims.main()
    return [Incr(HIST, ts, f"{metric}_h{bin_of(seconds)}{SEP}{main}", 1),
            Incr(HIST, ts, f"{metric}_s{SEP}{main}", seconds)]


def _first_response(s: TicketFold, ts: float, cal: Calendar) -> tuple[TicketFold, list[Incr]]:
    took = max(0.0, _business(cal, s.opened, ts) - s.paused_s)
    out = [_m("frt_n", s, ts), *_hist("frt", s, ts, took)]
    if not s.frt_breached:
        out.append(_m("frt_met", s, ts))
    return msgspec.structs.replace(s, frt=ts), out


def _corrections(s: TicketFold, ts: float, detail: str) -> list[Incr]:
    try:
        given = json.loads(detail) if detail else {}
    except ValueError:
        return []
    if not isinstance(given, dict):
        return []
    out = []
    for task in TASKS:
        actual = given.get(task)
        if not actual:
            continue
        pred = getattr(s.predicted, task) or "-"
        key = SEP.join((task, clean(s.predicted.model), clean(pred), clean(str(actual))))
        out.append(Incr(TRIAGE, ts, SEP.join(("c", clean(s.dims.team), key)), 1))
    return out


def opened(entry_ts: float, facts: Opened) -> Folded:
    s = TicketFold(dims=facts.dims, predicted=facts.predicted, opened=entry_ts,
                   review_since=entry_ts if facts.in_review else 0.0)
    # the heat map's cell (UTC weekday and hour) is a field of its own, so that a month of
    # it is a read of a few small week hashes rather than of 720 hourly ones
    cell = f"w{(int(entry_ts // 86400) + 3) % 7}{int(entry_ts % 86400 // 3600):02d}"
    return Folded(s, (_m("created", s, entry_ts), _by(SKILL, "created", s, entry_ts, s.dims.skill),
                      _by(TOPIC, "created", s, entry_ts, s.dims.topic),
                      Incr(HEAT, entry_ts, cell + SEP + clean(s.dims.team), 1)))


def fold(s: TicketFold, ts: float, actor: str, action: str, before: str, after: str,
         detail: str, calendar_of: CalendarOf) -> Folded:
    """The effect of one audit entry on a ticket already opened."""
    cal = calendar_of(s.dims.policy, s.dims.team)
    out: list[Incr] = []
    if (before.startswith("assigned:") or action in ("pending", "resolve", "transfer")
            or (action == "escalate" and before.split(" ")[-1] != after.split(" ")[-1])):
        # the holder lost the ticket (an escalation into another queue takes it away too)
        out += _held(s, ts)
        s = msgspec.structs.replace(s, held_since=0.0)
    if after.startswith("assigned:"):
        agent = after.split(":", 1)[1]
        s = msgspec.structs.replace(s, agent=agent, held_since=ts)
        out.append(_by(AGENT, "assigned", s, ts, agent))
    if action == "transfer":
        s = msgspec.structs.replace(s, touches=s.touches + 1)
        out += [_m("transfer", s, ts), _by(SKILL, "transfer_out", s, ts, s.dims.skill)]
    elif action == "escalate":
        if actor == "sla":
            kind = "frt" if "first response" in detail else "res"
            s = msgspec.structs.replace(s, **{f"{kind}_breached": True},
                                        review_since=s.review_since or ts)
            out.append(_m(f"breach_{kind}", s, ts))
        else:
            out.append(_m("escalate", s, ts))
    elif action == "first_response" and not s.frt:
        s, more = _first_response(s, ts, cal)
        out += more
        out.append(_by(AGENT, "responded", s, ts, actor))
    elif action == "pending":
        s = msgspec.structs.replace(s, paused_at=ts, touches=s.touches + 1)
    elif action == "customer_replied" and s.paused_at:
        s = msgspec.structs.replace(s, paused_s=s.paused_s + _business(cal, s.paused_at, ts),
                                    paused_at=0.0)
        if after == "assigned" and s.agent:
            s = msgspec.structs.replace(s, held_since=ts)
    elif action == "resolve" and s.is_open:
        out += _resolve(s, ts, actor, detail, cal)
        if not s.frt:
            s = msgspec.structs.replace(s, frt=ts)
        if not s.resolved:
            fcr = s.touches == 0
            s = msgspec.structs.replace(s, resolved=ts, fcr_at=ts if fcr else 0.0)
        s = msgspec.structs.replace(s, is_open=False, paused_at=0.0)
    elif action in ("reopen", "reopened") and not s.is_open:
        out += [_m("reopen", s, ts), _by(TOPIC, "reopen", s, ts, s.dims.topic)]
        if s.auto_at:
            # counted in the hour of the answer, so a period's reopen rate is that of the
            # answers given in it
            out += [_m("aa_reopened", s, s.auto_at),
                    _by(TOPIC, "aa_reopened", s, s.auto_at, s.dims.topic)]
            s = msgspec.structs.replace(s, auto_at=0.0)
        if s.fcr_at:
            # counted as solved at first contact; the customer came back, so it was not
            out += [_m("fcr", s, s.fcr_at, -1), _by(TOPIC, "fcr", s, s.fcr_at, s.dims.topic, -1)]
        s = msgspec.structs.replace(s, is_open=True, fcr_at=0.0, touches=s.touches + 1)
    elif action == "auto_answer":
        # every ticket the auto-answer stage decided on was eligible; "answered" deflected it
        out += [_m("aa_eligible", s, ts), _by(TOPIC, "aa_eligible", s, ts, s.dims.topic)]
        if after == "answered":
            out += [_m("aa_answered", s, ts), _by(TOPIC, "aa_answered", s, ts, s.dims.topic)]
            s = msgspec.structs.replace(s, auto_at=ts)
    elif action == "csat_offered":
        out.append(_m("csat_offered", s, ts))
    elif action == "csat" and after in ("1", "2", "3", "4", "5"):
        out += [_m("csat_n", s, ts), _m(f"csat_{after}", s, ts), _m("csat_points", s, ts, int(after))]
    elif action.startswith("review_"):
        out.append(_m(f"review_{clean(action.removeprefix('review_'))}", s, ts))
        if s.review_since:
            out += _hist("review", s, ts, ts - s.review_since)
            s = msgspec.structs.replace(s, review_since=0.0)
    return Folded(s, tuple(out))


def _resolve(s: TicketFold, ts: float, actor: str, detail: str, cal: Calendar) -> list[Incr]:
    out = [_m("resolved", s, ts), _by(AGENT, "handled", s, ts, actor),
           _by(SKILL, "resolved", s, ts, s.dims.skill), _by(TOPIC, "resolved", s, ts, s.dims.topic)]
    if not s.frt:
        # resolving answers the customer: it is the first response when none was given
        out += _first_response(s, ts, cal)[1]
    if not s.resolved:
        took = max(0.0, _business(cal, s.opened, ts) - s.paused_s)
        out += [_m("res_n", s, ts), *_hist("res", s, ts, took)]
        if not s.res_breached:
            out.append(_m("res_met", s, ts))
        if s.touches == 0:
            out += [_m("fcr", s, ts), _by(TOPIC, "fcr", s, ts, s.dims.topic)]
        out += _corrections(s, ts, detail)
        out.append(_by(TRIAGE, "resolved", s, ts, s.predicted.model))
    return out
