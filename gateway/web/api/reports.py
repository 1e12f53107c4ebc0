"""Reports for managers over the rollups (models/reports.py), as JSON or CSV.

    GET /api/v1/reports/{name}?from=&to=&team=&channel=&priority=&group_by=&format=csv

`staffing` forecasts each visible team's hourly openings for the next 14 days from the last
35 days (weekly x daily profile, team holidays as Sundays) and the agents Erlang C needs to
answer `service_level` (default 0.8) of tickets within `wait_s` (default 3600) at the team's
handle time; `backtest` gives the forecast's error (WAPE) on the last week.

The heat map (opened tickets by weekday x hour) takes tz_offset_hours; channel and priority
filter the figures counted per ticket (sla, times, fcr, transfers, review, backlog, series),
not the per-team breakdowns (agents, skills, topics, triage, confusion, heatmap).

`from` / `to`: ISO dates or times (UTC unless they carry an offset) or epoch seconds; the
range is widened to whole hours; default the last 7 days; at most 400 days. A manager sees
the teams they manage, admins and site-wide managers every team. Every report reads rollups
(queue/rollups.py); none scans tickets."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import msgspec
from aiohttp import web

from deskgate.gateway import sla_config
from deskgate.gateway.appkeys import KEYS, REDIS
from deskgate.gateway.web.auth import requires
from deskgate.gateway.web.errors import ApiError
from deskgate.gateway.web.scope import FILTERED, scope
from deskgate.models import forecast as fc
from deskgate.models import reports as r
from deskgate.models.enums import Channel, Priority, Role
from deskgate.models.reports import Filter, Table
from deskgate.models.rollup import HIST, MAIN, SEP, TEAM_HIST, TEAM_MAIN
from deskgate.queue.rollups import DAY, HOUR, Rollups

MAX_DAYS = 400
DEFAULT_DAYS = 7


class Query(msgspec.Struct, frozen=True, kw_only=True):
    """One report request, checked: what every report function reads."""

    start: float                        # whole hours
    end: float
    now: float
    filter: Filter
    by: str = ""
    offset: int = 0                     # the heat map's UTC offset, hours
    target: float = 0.8                 # staffing: service level ...
    wait_s: float = 3600.0              # ... within this wait


def parse_query(request: web.Request) -> Query:
    q = request.query
    now = time.time()
    end = _instant(q.get("to", ""), "to", now)
    start = _instant(q.get("from", ""), "from", end - DEFAULT_DAYS * DAY)
    start, end = start // HOUR * HOUR, -(-end // HOUR) * HOUR
    if end <= start:
        raise ApiError(400, "`from` must be before `to`", field="from")
    if end - start > MAX_DAYS * DAY:
        raise ApiError(400, f"a report covers at most {MAX_DAYS} days", field="from")
    channel, priority = q.get("channel", ""), q.get("priority", "")
    if channel and channel not in {c.value for c in Channel}:
        raise ApiError(400, f"unknown channel {channel!r}", field="channel")
    if priority and priority not in {p.value for p in Priority}:
        raise ApiError(400, "priority must be P1-P4", field="priority")
    s = scope(request)
    f = Filter(teams=None if s.everything else s.teams, team=q.get("team", "")[:64],
               channel=channel, priority=priority)
    if f.teams is not None and f.team not in (*f.teams, ""):
        raise ApiError(403, "managers see the reports of the teams they manage", field="team")
    by = q.get("group_by", "")
    if by and by not in r.GROUPS:
        raise ApiError(400, f"group_by must be one of {', '.join(r.GROUPS)}", field="group_by")
    try:
        offset = int(q.get("tz_offset_hours", "0"))
    except ValueError as exc:
        raise ApiError(400, "tz_offset_hours must be a whole number of hours",
                       field="tz_offset_hours") from exc
    if abs(offset) > 14:
        raise ApiError(400, "tz_offset_hours must be within ±14", field="tz_offset_hours")
    try:
        target = float(q.get("service_level", "0.8"))
        wait_s = float(q.get("wait_s", "3600"))
    except ValueError as exc:
        raise ApiError(400, "service_level and wait_s must be numbers",
                       field="service_level") from exc
    if not (0.5 <= target <= 0.99 and 1 <= wait_s <= 7 * DAY):
        raise ApiError(400, "service_level must be 0.5-0.99 and wait_s 1-604800",
                       field="service_level")
    return Query(start=start, end=end, now=now, filter=f, by=by, offset=offset,
                 target=target, wait_s=wait_s)


def _instant(text: str, name: str, default: float) -> float:
    if not text:
        return default
    try:
        return float(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text[:40])
    except ValueError as exc:
        raise ApiError(400, f"`{name}` must be an ISO date/time (2026-11-30, "
                            f"2026-11-30T09:00+08:00) or epoch seconds", field=name) from exc
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


Run = Callable[[Rollups, Query], Awaitable[Table]]


def _main(fn: Callable[..., Table], default_by: str, *, durations: bool = False) -> Run:
    async def run(ro: Rollups, q: Query) -> Table:
        by, f = q.by or default_by, q.filter
        team_only = await _team_level(ro, q, by)
        main, hist = (TEAM_MAIN, TEAM_HIST) if team_only else (MAIN, HIST)
        # one group ("all"): Redis sums the dimensions away (after filtering), and the report
        # reads the totals as the fields of one dimensionless row
        sums = await ro.sums(main, q.start, q.end, f, collapse=not by)
        if durations:
            sums |= await ro.sums(hist, q.start, q.end, f, collapse=not by)
        if not by:
            return fn({SEP.join((k, "", "", "", "")): v for k, v in sums.items()}, Filter(), "")
        if team_only:            # "<metric>|<team>": the other dimensions left empty
            sums = {k + SEP * 3: v for k, v in sums.items()}
        return fn(sums, f, by)
    return run


async def _team_level(ro: Rollups, q: Query, by: str) -> bool:
    """Whether the team projections can answer: no channel, priority or policy asked for,
    and they hold every count of the range."""
    return (by in ("", "team") and not q.filter.channel and not q.filter.priority
            and await ro.team_projections_cover(q.start))


def _by_team(proj: str, fn: Callable[..., Table]) -> Run:
    async def run(ro: Rollups, q: Query) -> Table:
        return fn(await ro.sums(proj, q.start, q.end, q.filter), q.filter)
    return run


async def _agents(ro: Rollups, q: Query) -> Table:
    return r.agents(await ro.sums("a", q.start, q.end, q.filter), q.filter, q.end - q.start)


async def _backlog(ro: Rollups, q: Query) -> Table:
    return r.backlog(await ro.open_tickets(), q.filter, q.now, q.by or "team")


async def _triage(ro: Rollups, q: Query) -> Table:
    return r.triage_quality(await ro.sums("q", q.start, q.end, q.filter), q.filter)[0]


async def _confusion(ro: Rollups, q: Query) -> Table:
    return r.triage_quality(await ro.sums("q", q.start, q.end, q.filter), q.filter)[1]


async def _series(ro: Rollups, q: Query) -> Table:
    gran = "h" if q.end - q.start <= 2 * DAY else "d"
    proj = TEAM_MAIN if await _team_level(ro, q, "") else MAIN
    return r.volume_series(await ro.series(proj, q.start, q.end, gran, r.SERIES_METRICS,
                                           q.filter))


async def _heatmap(ro: Rollups, q: Query) -> Table:
    return r.heatmap(await ro.sums("c", q.start, q.end, q.filter), q.filter, q.offset)


HISTORY_DAYS = 35                   # hourly rollups are kept 40 days
DEFAULT_AHT_S = 900.0


STAFFING_COLUMNS = ("team", "hour", "forecast_tickets", "agents_needed")
BACKTEST_COLUMNS = ("team", "history_hours", "aht_s", "wape")


Rows = list[tuple[r.Number, ...]]
# (keyspace, team, hour, service level, wait, time zone, holidays) -> (made at, forecast rows,
# backtest row): a team's forecast reads only whole past hours, which do not change, so it is
# worked out once per hour and process (kept FORECAST_CACHE_SECONDS, in case rollups lagged)
_forecast_cache: dict[tuple[object, ...], tuple[float, Rows, tuple[r.Number, ...]]] = {}
FORECAST_CACHE_SECONDS = 600
FORECAST_CACHE_SIZE = 256


async def _forecasts(ro: Rollups, q: Query) -> tuple[Rows, Rows]:
    """Per visible team: the 14-day forecast with agents needed, and its backtest."""
    now = q.now // HOUR * HOUR
    teams = sorted(t for t in ro.config.teams if q.filter.team_ok(t))
    keys = {t: (ro.namespace, t, now, q.target, q.wait_s, ro.config.teams[t].calendar.timezone,
                tuple(ro.config.teams[t].calendar.holidays)) for t in teams}
    missing = [t for t in teams if q.now - _forecast_cache.get(keys[t], (-1e18,))[0]
               > FORECAST_CACHE_SECONDS]
    if missing:
        agents = await ro.sums("a", now - 28 * DAY, now, Filter(teams=frozenset(missing)))
        opened = await ro.opened_per_hour(missing, now - HISTORY_DAYS * DAY, now)
        for team in missing:
            rows, backtest = _forecast(ro, q, team, now, agents, opened[team])
            if len(_forecast_cache) >= FORECAST_CACHE_SIZE:
                del _forecast_cache[min(_forecast_cache, key=lambda k: _forecast_cache[k][0])]
            _forecast_cache[keys[team]] = (q.now, rows, backtest)
    staffing: Rows = []
    backtests: Rows = []
    for team in teams:
        _, rows, backtest = _forecast_cache[keys[team]]
        staffing += rows
        backtests.append(backtest)
    return staffing, backtests


def _forecast(ro: Rollups, q: Query, team: str, now: float, agents: dict[str, float],
              history: dict[float, float]) -> tuple[Rows, tuple[r.Number, ...]]:
    cal = ro.config.teams[team].calendar
    zone = ZoneInfo(cal.timezone)
    holidays = frozenset(date.fromisoformat(d) for d in cal.holidays)
    held = sum(v for k, v in agents.items() if k.startswith(f"held_s|{team}|"))
    handled = sum(v for k, v in agents.items() if k.startswith(f"handled|{team}|"))
    aht = held / handled if handled and held else DEFAULT_AHT_S
    f = fc.forecast(history, now, zone, holidays)
    need = fc.staffing(f, aht, q.target, q.wait_s)
    rows: Rows = [(team, datetime.fromtimestamp(h, zone).isoformat(), v, n)
                  for h, v, n in zip(f.hours, f.volume, need, strict=True)]
    return rows, (team, len(history), round(aht, 1), fc.backtest(history, now, zone, holidays))


async def _staffing(ro: Rollups, q: Query) -> Table:
    return Table("staffing", STAFFING_COLUMNS, tuple((await _forecasts(ro, q))[0]))


async def _backtest(ro: Rollups, q: Query) -> Table:
    return Table("backtest", BACKTEST_COLUMNS, tuple((await _forecasts(ro, q))[1]))


REPORTS: dict[str, Run] = {
    "sla": _main(r.sla_attainment, "policy"),
    "times": _main(r.response_times, "", durations=True),
    "fcr": _main(r.resolution_quality, ""),
    "transfers": _main(r.transfers, "team"),
    "review": _main(r.review, "", durations=True),
    "csat": _main(r.csat, ""),
    "auto-answer": _main(r.auto_answer, ""),
    "backlog": _backlog,
    "agents": _agents,
    "skills": _by_team("s", r.skills),
    "topics": _by_team("t", r.topics),
    "triage": _triage,
    "confusion": _confusion,
    "series": _series,
    "heatmap": _heatmap,
    "staffing": _staffing,
    "backtest": _backtest,
}


def to_csv(table: Table) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(table.columns)
    w.writerows([r.csv_cell(v) for v in row] for row in table.rows)
    return out.getvalue()


@requires(Role.MANAGER, policy=FILTERED)
async def get_report(request: web.Request) -> web.Response:
    """A report over the rollups (sla, times, fcr, transfers, review, csat, auto-answer,
    backlog, agents, skills, topics, triage, confusion, series, heatmap, staffing, backtest),
    as JSON or CSV (format=csv)."""
    name = request.match_info["name"]
    run = REPORTS.get(name)
    if run is None:
        raise ApiError(404, f"no report {name!r}; there are {', '.join(REPORTS)}")
    q = parse_query(request)
    config = await sla_config.current(request.app)
    table = await run(Rollups(request.app[REDIS], request.app[KEYS], config), q)
    if request.query.get("format") == "csv":
        return web.Response(
            body=to_csv(table).encode("utf-8-sig"),      # the BOM makes Excel read UTF-8
            content_type="text/csv", charset="utf-8",
            headers={"Content-Disposition": f'attachment; filename="deskgate-{name}.csv"'})
    return web.json_response({
        "report": name, "from": datetime.fromtimestamp(q.start, UTC).isoformat(),
        "to": datetime.fromtimestamp(q.end, UTC).isoformat(), "columns": table.columns,
        "rows": table.rows,
        "teams": None if q.filter.teams is None else sorted(q.filter.teams)})
