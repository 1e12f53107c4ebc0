"""Staffing forecast: the pure rules against hand-computed figures, and the staffing and
backtest reports over rollups of tickets opened through the real scripts."""

from __future__ import annotations

import math
import time
from datetime import date, datetime
from zoneinfo import ZoneInfo

import msgspec

from deskgate.models import forecast as fc
from deskgate.models.enums import Role
from deskgate.models.sla import Calendar, SlaConfig, Team
from deskgate.queue.rollups import Rollups
from deskgate.queue.sla import Sla

SH = ZoneInfo("Asia/Shanghai")
WEEK = 7 * 86400


def _pattern(h: float) -> float:
    """Two tickets on Mondays at 10:00, one every day at 15:00 (Shanghai time)."""
    local = datetime.fromtimestamp(h, SH)
    return (2.0 if local.weekday() == 0 and local.hour == 10 else 0.0) + \
        (1.0 if local.hour == 15 else 0.0)


def test_erlang_c_matches_the_closed_form() -> None:
    # the textbook case: 10 erlangs (200 contacts/h, 3 min each), 80% within 20 s
    def closed(n: int, a: float) -> float:
        top = a ** n / math.factorial(n) * n / (n - a)
        return top / (sum(a ** k / math.factorial(k) for k in range(n)) + top)
    for n in (11, 13, 14):
        sl = 1 - closed(n, 10.0) * math.exp(-(n - 10) * 20 / 180)
        assert abs(fc.erlang_c_service_level(n, 10.0, 180, 20) - sl) < 1e-9
    assert round(closed(11, 10.0), 4) == 0.6821
    assert fc.agents_needed(200, 180, 0.8, 20) == 14     # 13 give 79.6%
    assert fc.agents_needed(0, 180, 0.8, 20) == 0
    assert fc.erlang_c_service_level(10, 10.0, 180, 20) == 0.0   # at capacity: queue grows


def test_a_weekly_pattern_is_forecast_exactly_and_holidays_look_like_sundays() -> None:
    start = datetime(2026, 11, 30, 0, 0, tzinfo=SH).timestamp()      # a Monday
    history = {h: _pattern(h) for h in (start - i * 3600 for i in range(1, 3 * 168 + 1))
               if _pattern(h)}
    f = fc.forecast(history, start, SH)
    assert len(f.volume) == 14 * 24
    assert list(f.volume) == [_pattern(h) for h in f.hours]
    assert fc.backtest(history, start, SH) == 0.0
    # the second Monday is a holiday: Sunday's profile (15:00 only, no 10:00 peak)
    g = fc.forecast(history, start, SH, frozenset({date(2026, 12, 7)}))
    monday2 = [v for h, v in zip(g.hours, g.volume, strict=True)
               if datetime.fromtimestamp(h, SH).date() == date(2026, 12, 7)]
    assert sum(monday2) == 1.0 and monday2[15] == 1.0
    # a changed last week shows in the backtest: 1 of 10 weekly tickets mis-forecast
    changed = dict(history)
    monday_peak = datetime(2026, 11, 23, 10, 0, tzinfo=SH).timestamp()
    changed[monday_peak] = 1.0
    assert fc.backtest(changed, start, SH) == round(1 / 8, 4)
    assert fc.backtest({}, start, SH) is None


async def test_staffing_and_backtest_reports_over_real_rollups(aclient, keys, enqueue, config,
                                                               make_client, auth) -> None:
    sla_config = SlaConfig(teams={"care": Team(skills=("care",), managers=("mia",),
                                               calendar=Calendar(timezone="Asia/Shanghai"))})
    sla = Sla(aclient, keys, sla_config)
    now = time.time() // 3600 * 3600
    for i in range(1, 3 * 168 + 1):
        h = now - i * 3600
        for n in range(int(_pattern(h))):
            tid = await enqueue("care", h + 60 + n)
            await sla.start([tid], h + 60 + n)
    await Rollups(aclient, keys, sla_config).catch_up()
    client = await make_client(msgspec.structs.replace(config, sla=sla_config))
    mia = auth(Role.MANAGER, "mia")
    back = await (await client.get("/api/v1/reports/backtest", headers=mia)).json()
    # hours with openings: 15:00 on 21 days and 10:00 on 3 Mondays; no agent data: 900 s
    assert back["rows"] == [["care", 21 + 3, 900.0, 0.0]]
    staff = await (await client.get("/api/v1/reports/staffing?service_level=0.8&wait_s=3600",
                                    headers=mia)).json()
    rows = staff["rows"]
    assert len(rows) == 14 * 24 and staff["columns"] == ["team", "hour", "forecast_tickets",
                                                         "agents_needed"]
    for _, hour, volume, agents in rows:
        expected = _pattern(datetime.fromisoformat(hour).timestamp())
        assert volume == expected
        # 1 ticket/h at 900 s each: 0.25 erlang; one agent answers 98.8% within an hour
        assert agents == {0.0: 0, 1.0: 1, 2.0: 1, 3.0: 1}[expected]
    csv = await client.get("/api/v1/reports/staffing?format=csv", headers=mia)
    assert (await csv.read()).decode("utf-8-sig").startswith("team,hour,forecast_tickets")
