"""Staffing forecast: the next 14 days of hourly ticket volume per team from its history, the
agents that volume needs for a target service level (Erlang C), and the forecast's error on
the last week of history (a backtest).

The volume model is a seasonal profile over the 168 hours of a week (weekly and daily
seasonality together): each weekday-hour is the recency-weighted mean of the same hour in
the past (up to 8) weeks, weights halving per week back, so a shift in volume shows within a
week or two. Team holidays (the SLA calendar's `holidays`) forecast the profile of a
Sunday. Pure functions; queue/rollups.py reads the hourly history."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import msgspec

WEEK_HOURS = 168
HORIZON_HOURS = 14 * 24
MAX_AGENTS = 10_000


class _Clock:
    """Local slots and dates of whole hours in one zone, asking the zone once per day (per
    hour only on a day whose UTC offset changes): a forecast looks at ~1,300 hours, and a
    zone-aware datetime per hour was most of its cost."""

    EPOCH_SLOT = 3 * 24                 # 1970-01-01 was a Thursday
    EPOCH_ORDINAL = date(1970, 1, 1).toordinal()

    def __init__(self, zone: ZoneInfo) -> None:
        self._zone = zone
        self._days: dict[int, int | None] = {}

    def _offset_at(self, t: float) -> int:
        off = datetime.fromtimestamp(t, UTC).astimezone(self._zone).utcoffset()
        return int(off.total_seconds()) if off is not None else 0

    def local(self, hour_start: float) -> int:
        """Seconds since the epoch on the local wall clock."""
        day = int(hour_start // 86400)
        if day not in self._days:
            a, b = self._offset_at(day * 86400), self._offset_at(day * 86400 + 86399)
            self._days[day] = a if a == b else None
        off = self._days[day]
        return int(hour_start) + (off if off is not None else self._offset_at(hour_start))

    def slot(self, hour_start: float) -> int:
        """The hour of the week (0 = Monday 00:00, local) an hour starts in."""
        return (self.local(hour_start) // 3600 + self.EPOCH_SLOT) % WEEK_HOURS

    def date(self, hour_start: float) -> date:
        return date.fromordinal(self.EPOCH_ORDINAL + self.local(hour_start) // 86400)


class Forecast(msgspec.Struct, frozen=True):
    hours: tuple[float, ...]            # start of each forecast hour (epoch)
    volume: tuple[float, ...]           # expected tickets opened in that hour


def forecast(history: Mapping[float, float], start: float, zone: ZoneInfo,
             holidays: frozenset[date] = frozenset(), horizon: int = HORIZON_HOURS) -> Forecast:
    """Hourly volume for `horizon` hours from `start` (a whole hour) from `history`
    ({hour start: tickets opened}, hours before `start`; missing hours count as 0)."""
    span = max((start - h for h in history), default=0.0)
    weeks = max(1, min(math.ceil(span / (WEEK_HOURS * 3600)), 8))
    clock = _Clock(zone)
    profile = [0.0] * WEEK_HOURS
    total_w = 0.0
    for k in range(weeks):              # k = 0: the last week before `start`
        w = 0.5 ** k
        total_w += w
        for i in range(WEEK_HOURS):
            h = start - (k + 1) * WEEK_HOURS * 3600 + i * 3600
            n = history.get(h, 0.0)
            if n:
                profile[clock.slot(h)] += w * n
    profile = [p / total_w for p in profile]
    hours, volume = [], []
    for i in range(horizon):
        h = start + i * 3600
        s = clock.slot(h)
        if holidays and clock.date(h) in holidays:
            s = 6 * 24 + s % 24         # a holiday looks like a Sunday
        hours.append(h)
        volume.append(round(profile[s], 3))
    return Forecast(tuple(hours), tuple(volume))


def backtest(history: Mapping[float, float], end: float, zone: ZoneInfo,
             holidays: frozenset[date] = frozenset()) -> float | None:
    """WAPE (sum of absolute errors / sum of actual tickets) of forecasting the last week
    before `end` from the weeks before it; None without a week of history before it."""
    test_start = end - WEEK_HOURS * 3600
    train = {h: v for h, v in history.items() if h < test_start}
    if not train or min(train) > test_start - WEEK_HOURS * 3600:
        return None
    f = forecast(train, test_start, zone, holidays, horizon=WEEK_HOURS)
    actual = [history.get(h, 0.0) for h in f.hours]
    total = sum(actual)
    if total <= 0:
        return None
    return round(sum(abs(a - p) for a, p in zip(actual, f.volume, strict=True)) / total, 4)


def erlang_c_service_level(agents: int, traffic: float, aht_s: float, wait_s: float) -> float:
    """The share of contacts answered within `wait_s` with `agents` agents, for `traffic`
    erlangs of work with mean handle time `aht_s` (Erlang C)."""
    if traffic <= 0:
        return 1.0
    if agents <= traffic:
        return 0.0
    b = 1.0                              # Erlang B by recursion: stable for large N
    for n in range(1, agents + 1):
        b = traffic * b / (n + traffic * b)
    c = agents * b / (agents - traffic * (1 - b))
    return max(0.0, 1.0 - c * math.exp(-(agents - traffic) * wait_s / aht_s))


def agents_needed(per_hour: float, aht_s: float, target: float, wait_s: float) -> int:
    """The fewest agents that answer `target` of contacts within `wait_s`: Erlang B carried
    from n - 1 agents to n (the recursion erlang_c_service_level runs), so the search costs
    one step per agent instead of a whole recursion per candidate."""
    traffic = per_hour * aht_s / 3600
    if traffic <= 0:
        return 0
    b = 1.0
    for n in range(1, MAX_AGENTS + 1):
        b = traffic * b / (n + traffic * b)
        if n <= traffic:
            continue
        c = n * b / (n - traffic * (1 - b))
        if 1.0 - c * math.exp(-(n - traffic) * wait_s / aht_s) >= target:
            return n
    return MAX_AGENTS


def staffing(f: Forecast, aht_s: float, target: float, wait_s: float) -> Sequence[int]:
    # the weekly profile repeats over the horizon: each distinct volume is solved once
    known: dict[float, int] = {}
    return [known[v] if v in known else known.setdefault(v, agents_needed(v, aht_s, target,
                                                                          wait_s))
            for v in f.volume]
