"""`deskgate senders`: the reply sender workers (gateway/workers/senders.py) as a process of
their own, the shape `serve` runs them in (senders.count child processes) and the one to run
more of, anywhere, for more throughput."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from pathlib import Path

from deskgate.gateway.cli.common import add_common, config, data_dir
from deskgate.gateway.config import Config
from deskgate.gateway.workers.senders import run_senders
from deskgate.gateway.workers.triage import consumer_name
from deskgate.queue import connection
from deskgate.queue.keys import Keys
from deskgate.queue.redis_server import redis_url_for

log = logging.getLogger("deskgate.senders")


async def _senders(cfg: Config, redis_url: str, ddir: Path, count: int) -> None:
    client = connection.async_client(redis_url)
    keys = Keys(cfg.redis_prefix)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    sent = await asyncio.gather(*(run_senders(client, keys, cfg, ddir, consumer_name(i), stop)
                                  for i in range(count)))
    log.info("sender finished: %d replies sent", sum(sent))
    await client.aclose()


def cmd_senders(args: argparse.Namespace) -> int:
    cfg = config(args)
    with redis_url_for(data_dir(args)) as redis_url:
        asyncio.run(_senders(cfg, redis_url, data_dir(args), args.count))
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "senders", help="run reply sender workers only (for the multi-process shape)",
        description="Read the outbox as a consumer group and deliver agents' replies on each "
                    "customer's channel (SMTP relay, provider APIs, web chat), with retries, "
                    "back-off and a dead-letter stream. `serve` runs senders.count of these "
                    "itself; run more anywhere for more throughput.")
    p.add_argument("--count", type=int, default=1,
                   help="sender workers in this process (each has its own consumer name)")
    add_common(p)
    p.set_defaults(func=cmd_senders)
