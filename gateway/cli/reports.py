"""`deskgate reports …`: rebuild the report rollups from the audit stream, fold what is new
(the workers do that every tick; this is for a stopped installation), or preview / send a
team's daily summary now."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import date

import aiohttp

from deskgate.gateway.cli.common import add_common, config, data_dir
from deskgate.gateway.config import Config, ConfigError
from deskgate.gateway.workers.daily_summary import DailySummary, previous_day
from deskgate.models import summary as sm
from deskgate.queue import connection
from deskgate.queue.redis_server import redis_url_for
from deskgate.queue.rollups import Rollups
from deskgate.queue.sla_store import SlaConfigStore


async def _summary(args: argparse.Namespace, cfg: Config, rollups: Rollups,
                   summaries: DailySummary) -> int:
    team = args.team
    if not team:
        raise ConfigError("name the team: --team <team> (one of the SLA config's teams)")
    if team not in rollups.config.teams:
        raise ConfigError(f"no team {team!r}; teams: {', '.join(sorted(rollups.config.teams))}")
    now = time.time()
    try:
        day = date.fromisoformat(args.date) if args.date else previous_day(
            now, summaries.zone(team))
    except ValueError as exc:
        raise ConfigError(f"--date {args.date!r}: give a date as 2026-11-30") from exc
    target = cfg.summary.teams.get(team)
    lang = args.lang or (target.language if target else "zh")
    fig = await summaries.build(team, day, now)
    if args.json:
        print(json.dumps(sm.payload(fig, lang), ensure_ascii=False, indent=2))
    else:
        subject, body = sm.render(fig, lang)
        print(f"{subject}\n\n{body}")
    if not args.send:
        return 0
    if target is None:
        raise ConfigError(f"team {team!r} has no summary target: add it under summary.teams "
                          "(webhook_url + webhook_secret and/or email)")
    async with aiohttp.ClientSession() as http:
        sent = await summaries.send(team, day, now, http, by_hand=True)
    state = await summaries.marks.delivered(team, day.isoformat())
    print(f"\nsent now to {', '.join(sorted(state)) or 'nobody'}" if sent else
          "\nnot sent now: it went out before, or failed (see the log; a failed one is "
          f"retried with back-off); targets that took it: {', '.join(sorted(state)) or 'none'}")
    return 0 if sent or state else 1


async def _run(args: argparse.Namespace, url: str) -> int:
    cfg = config(args)
    client = connection.async_client(url)
    try:
        keys = cfg.keys()
        rollups = Rollups(client, keys, await SlaConfigStore(client, keys, cfg.sla).current())
        if args.reports_command == "summary":
            return await _summary(args, cfg, rollups,
                                  DailySummary(client, keys, cfg, rollups, "cli"))
        started = time.perf_counter()
        if args.reports_command == "rebuild":
            n = await rollups.rebuild()
            what = "rebuilt from"
        else:
            n = await rollups.catch_up()
            what = "folded"
        took = time.perf_counter() - started
        print(f"report rollups {what} {n} audit entries in {took:.1f} s "
              f"(position {await rollups.position() or 'none'})")
        return 0
    finally:
        await client.aclose()


def cmd_reports(args: argparse.Namespace) -> int:
    with redis_url_for(data_dir(args)) as url:
        return asyncio.run(_run(args, url))


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reports", help="rebuild or update the report rollups; preview or send a daily summary",
        description="Reports (GET /api/v1/reports/…, the console's report page) read hour and "
                    "day rollups that workers fold from the audit stream. `rebuild` clears "
                    "them and folds the whole stream again (the figures come out identical; "
                    "the stream keeps the last ~1,000,000 entries); `update` folds only "
                    "what is new. `summary` prints a team's daily summary (volume, SLA, first "
                    "response p50/p90, backlog, CSAT, top topics, risk) and with --send "
                    "delivers it to the team's summary targets now (once per team and day: "
                    "the workers then do not send it again).",
        epilog="example: deskgate reports summary --team care --date 2026-11-30 --lang en")
    p.add_argument("reports_command", choices=("rebuild", "update", "summary"),
                   help="rebuild: from the start of the audit stream; update: what is new; "
                        "summary: a team's daily summary")
    p.add_argument("--team", default="", help="summary: the team (from the SLA config)")
    p.add_argument("--date", default="",
                   help="summary: the local day, YYYY-MM-DD (default: yesterday in the "
                        "team's time zone)")
    p.add_argument("--lang", choices=("zh", "en"), default="",
                   help="summary: language (default: the team's summary language, else zh)")
    p.add_argument("--json", action="store_true", help="summary: print the webhook's JSON")
    p.add_argument("--send", action="store_true",
                   help="summary: also deliver it to the configured webhook / email now")
    add_common(p)
    p.set_defaults(func=cmd_reports)


