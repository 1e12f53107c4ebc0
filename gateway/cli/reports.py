"""`deskgate reports …`: rebuild the report rollups from the audit stream, or fold what is
new (the workers do that every tick; this is for a stopped installation)."""

from __future__ import annotations

import argparse
import asyncio
import time

from deskgate.gateway.cli.common import add_common, config, data_dir
from deskgate.queue import connection
from deskgate.queue.keys import Keys
from deskgate.queue.redis_server import redis_url_for
from deskgate.queue.rollups import Rollups
from deskgate.queue.sla_store import SlaConfigStore


async def _run(args: argparse.Namespace, url: str) -> int:
    cfg = config(args)
    client = connection.async_client(url)
    try:
        keys = Keys(cfg.redis_prefix)
        rollups = Rollups(client, keys, await SlaConfigStore(client, keys, cfg.sla).current())
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
        "reports", help="rebuild or update the report rollups",
        description="Reports (GET /api/v1/reports/…, the console's report page) read hour and "
                    "day rollups that workers fold from the audit stream. `rebuild` clears "
                    "them and folds the whole stream again (the figures come out identical; "
                    "the stream keeps the last ~1,000,000 entries); `update` folds only "
                    "what is new.")
    p.add_argument("reports_command", choices=("rebuild", "update"),
                   help="rebuild: from the start of the audit stream; update: what is new")
    add_common(p)
    p.set_defaults(func=cmd_reports)
