"""`deskgate worker`: triage workers only, the process `serve` starts for them (and the one to
run more of, on any machine). Its own module, apart from `serve`'s: `deskgate worker` imports
this alone (cli/main.py), not the web app, the mail listener or the other commands."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from pathlib import Path

from deskgate.gateway.cli.common import add_common, config, data_dir
from deskgate.gateway.config import Config
from deskgate.gateway.workers import classifier_watch
from deskgate.gateway.workers.auto_answer import AutoAnswerWorker
from deskgate.gateway.workers.triage import TriageWorker, consumer_name, load_triager
from deskgate.queue import connection
from deskgate.queue.redis_server import redis_url_for

log = logging.getLogger("deskgate.worker")


async def _work(cfg: Config, redis_url: str, count: int, ddir: Path) -> None:
    client = connection.async_client(redis_url)
    keys = cfg.keys()
    triager = await classifier_watch.start(redis_url, keys, ddir, consumer_name(), load_triager())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    workers = [TriageWorker(client, keys, cfg, triager, consumer_name(i)) for i in range(count)]
    # each worker process also runs the auto-answer stage: its lookups wait on the network,
    # not the CPU, and only tickets whose topic has a lookup configured reach it
    answers = AutoAnswerWorker(client, keys, cfg, consumer_name())
    await asyncio.gather(*(w.run(stop) for w in workers), answers.run(stop))
    log.info("worker finished: %d entries processed", sum(w.processed for w in workers))
    await triager.close()
    await client.aclose()


def cmd_worker(args: argparse.Namespace) -> int:
    cfg = config(args)
    with redis_url_for(data_dir(args), cfg.redis_url) as redis_url:
        asyncio.run(_work(cfg, redis_url, args.count, data_dir(args)))
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    worker = sub.add_parser(
        "worker", help="run triage workers only (for the multi-process shape)",
        description="Read the ingest stream as a consumer group: triage, thread, route and "
                    "store tickets. Each process also runs the auto-answer stage (the shops' "
                    "lookup webhooks, docs/auto-answer.md). Run as many as the load needs, on "
                    "any machine.")
    worker.add_argument("--count", type=int, default=1, help="workers in this process")
    add_common(worker)
    worker.set_defaults(func=cmd_worker)
