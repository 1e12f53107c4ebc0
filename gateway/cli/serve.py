"""`deskgate serve` (HTTP + workers + embedded Redis in one command) and `deskgate gateway` (one
more HTTP process on the same port); `deskgate worker` is cli/worker.py.

serve runs the gateway in this process and the triage workers as child processes (so NLP
never stalls HTTP, and a worker that dies is restarted while its pending entries are taken
over by the others). Shutdown order: stop accepting HTTP, let in-flight requests finish, ask
workers to finish their batch (SIGTERM), then stop the embedded Redis (it flushes its AOF)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import msgspec
from aiohttp import web

from deskgate.gateway import edge
from deskgate.gateway.cli.common import add_common, config, data_dir
from deskgate.gateway.cli.demo import post_demo, seed_demo
from deskgate.gateway.config import Config, ConfigError
from deskgate.gateway.mail import smtp
from deskgate.gateway.retraining.jobs import CLUSTER_REFUSAL, JOBS_REDIS_URL_ENV
from deskgate.gateway.web import access_log
from deskgate.gateway.web.app import create_app
from deskgate.gateway.workers.triage import WORKER_SLOT_ENV
from deskgate.queue import connection
from deskgate.queue.keys import Keys
from deskgate.queue.redis_server import REDIS_URL_ENV, EmbeddedRedis, redis_for, redis_url_for

log = logging.getLogger("deskgate.serve")

RESTART_BACKOFF_MAX = 30.0


class WorkerPool:
    """Child `deskgate worker` processes, restarted with back-off when they die."""

    def __init__(self, count: int, redis_url: str, argv_tail: list[str],
                 command: str = "worker") -> None:
        self.count = count
        self.command = command
        self._env = {**os.environ, REDIS_URL_ENV: redis_url}
        self._argv = [sys.executable, "-m", "deskgate.gateway.cli.main", command, *argv_tail]
        self.procs: list[subprocess.Popen[bytes]] = []
        self._backoff = [0.5] * count
        self._next_start = [0.0] * count

    def start(self) -> None:
        self.procs = [self._spawn(i) for i in range(self.count)]

    def _spawn(self, slot: int) -> subprocess.Popen[bytes]:
        # A replacement keeps its predecessor's consumer name, so it finishes the entries the
        # dead process had read but not acknowledged at once, instead of after the idle time
        # XAUTOCLAIM waits for.
        env = {**self._env, WORKER_SLOT_ENV: f"{socket.gethostname()}:{os.getpid()}:{slot}"}
        proc = subprocess.Popen(self._argv, env=env, stdin=subprocess.DEVNULL)
        log.info("%s process %d started", self.command, proc.pid)
        return proc

    def check(self) -> None:
        now = time.monotonic()
        for i, proc in enumerate(self.procs):
            code = proc.poll()
            if code is None or now < self._next_start[i]:
                continue
            log.warning("%s process %d exited with %s; restarting it (a worker's replacement "
                        "finishes the entries it left unacknowledged)", self.command, proc.pid,
                        code)
            self.procs[i] = self._spawn(i)
            self._next_start[i] = now + self._backoff[i]
            self._backoff[i] = min(RESTART_BACKOFF_MAX, self._backoff[i] * 2)

    def stop(self, timeout: float = 20.0) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("worker %d did not stop in time; killing it (its entries stay "
                          "pending and are replayed on the next start)", proc.pid)
                proc.kill()
                proc.wait()


async def _serve(args: argparse.Namespace, cfg: Config, redis_url: str, ddir: Path,
                 server: EmbeddedRedis | None) -> None:
    cfg = smtp.with_cli_options(cfg, args.smtp_port, args.no_smtp)
    cfg = edge.fit_to_file_limit(cfg, edge.raise_file_limit())
    app = create_app(cfg, redis_url, ddir, run_workers=False)
    runner = web.AppRunner(app, access_log_class=access_log.AccessLogger,
                           access_log=access_log.LOGGER,
                           handle_signals=False)
    await runner.setup()
    host = args.host or cfg.http.host
    port = args.port if args.port is not None else cfg.http.port
    site = edge.GuardedSite(runner, host, port, max_connections=cfg.http.max_connections,
                            reuse_port=args.reuse_port or args.gateways > 1)
    await site.start()
    tail = ["--data-dir", str(ddir)] + (["--config", args.config] if args.config else [])
    # the other gateways bind the same port once this one holds it (SO_REUSEPORT: the kernel
    # spreads new connections over the processes)
    gateways = WorkerPool(args.gateways - 1, redis_url,
                          [*tail, "--host", host, "--port", str(port)], command="gateway")
    gateways.start()
    pool = WorkerPool(args.workers if args.workers is not None else cfg.workers.count,
                      redis_url, tail)
    pool.start()
    job_workers = args.job_workers
    if job_workers and connection.is_cluster(redis_url) and not os.environ.get(JOBS_REDIS_URL_ENV):
        log.warning("no job worker started: %s", CLUSTER_REFUSAL)
        job_workers = 0
    job_pool = WorkerPool(job_workers, redis_url, tail, command="retraining-worker")
    job_pool.start()
    send_pool = WorkerPool(cfg.senders.count, redis_url, tail, command="senders")
    send_pool.start()
    log.info("Deskgate is up: http://%s:%d  (health /healthz, API /api/v1, metrics /metrics); "
             "data in %s; %d gateway, %d worker process(es). Ctrl-C stops.", host, port, ddir,
             args.gateways, pool.count)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    demo = (asyncio.create_task(_demo(f"http://{_reachable(host)}:{port}", redis_url,
                                      cfg.keys())) if args.demo else None)
    try:
        while not stop.is_set():
            if server is not None:
                await asyncio.to_thread(server.supervise)
            gateways.check()
            pool.check()
            job_pool.check()
            send_pool.check()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
    finally:
        if demo is not None and not demo.done():
            demo.cancel()
        log.info("shutting down: finishing in-flight requests, then workers")
        await runner.cleanup()
        await asyncio.to_thread(gateways.stop)
        await asyncio.to_thread(pool.stop)
        await asyncio.to_thread(job_pool.stop)
        await asyncio.to_thread(send_pool.stop)


def _reachable(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


async def _demo(url: str, redis_url: str, keys: Keys) -> None:
    tokens = await seed_demo(redis_url, keys)
    await post_demo(url, tokens["integration"], tokens["manager"], run="serve")
    width = max(map(len, tokens))
    print("\nDemo data is loaded. Tokens for the API (Authorization: Bearer …) and the console "
          f"login at {url}/console/:", flush=True)
    for role, token in tokens.items():
        print(f"  {role:<{width}}  {token}", flush=True)
    print("Agents ann (general, triage, logistics, billing) and bo (tech, care) are online.\n",
          flush=True)


def cmd_serve(args: argparse.Namespace) -> int:
    if args.gateways < 1:
        raise ConfigError("--gateways must be at least 1 (this process is one)")
    cfg = config(args)
    ddir = data_dir(args)
    ddir.mkdir(parents=True, exist_ok=True)
    if cfg.durability.mode == "replica" and not (os.environ.get(REDIS_URL_ENV) or cfg.redis_url):
        raise ConfigError("durability mode replica needs a Redis master with replicas: set "
                          f"{REDIS_URL_ENV} (or redis_url in the config) to it or to its "
                          "Sentinel group (the embedded Redis has none)")
    with redis_for(ddir, own=True, appendfsync=cfg.durability.appendfsync,
                   configured=cfg.redis_url) as (redis_url, server):
        asyncio.run(_serve(args, cfg, redis_url, ddir, server))
    log.info("stopped")
    return 0


def cmd_gateway(args: argparse.Namespace) -> int:
    # The IMAP pollers run in one process of a deployment (serve's); a mailbox polled twice
    # would be fetched twice for nothing.
    cfg = config(args)
    cfg = msgspec.structs.replace(cfg, email=msgspec.structs.replace(cfg.email, imap=()))
    with redis_url_for(data_dir(args)) as redis_url:
        asyncio.run(_serve(args, cfg, redis_url, data_dir(args), None))
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser(
        "serve", help="run HTTP, the triage workers and the embedded Redis in one command",
        description="Start Deskgate: the HTTP gateway (webhooks, API, console), triage worker "
                    "processes and, unless DESKGATE_REDIS_URL is set, a private Redis with AOF "
                    "in the data directory.")
    serve.add_argument("--host", default=None, help="listen address (default: from config, "
                                                    "127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="HTTP port (default: 8080)")
    serve.add_argument("--workers", type=int, default=None,
                       help="triage worker processes (default: from config, 1; 0 = none, "
                            "for a gateway-only node)")
    serve.add_argument("--demo", action="store_true",
                       help="load demo agents and messages (zh + en) and print a token per "
                            "role, to try the console and the API at once")
    serve.add_argument("--job-workers", type=int, default=1,
                       help="`deskgate retraining-worker` processes for retraining and imports (default 1)")
    serve.add_argument("--reuse-port", action="store_true",
                       help="SO_REUSEPORT, to run several gateways on one port")
    serve.add_argument("--gateways", type=int, default=1,
                       help="HTTP gateway processes sharing the port (SO_REUSEPORT; default 1): "
                            "this one, which also runs SMTP and the IMAP pollers, and N-1 "
                            "`deskgate gateway` children, restarted if they die")
    serve.add_argument("--smtp-port", type=int, default=None,
                       help="run the SMTP listener for the support inboxes on this port "
                            "(default: from config email.smtp, 2525, when inboxes are set)")
    serve.add_argument("--no-smtp", action="store_true", help="do not run the SMTP listener")
    add_common(serve)
    serve.set_defaults(func=cmd_serve)

    gateway = sub.add_parser(
        "gateway", help="run one HTTP gateway only (for the multi-process shape)",
        description="Serve the HTTP API, webhooks and console against DESKGATE_REDIS_URL (or "
                    "the embedded Redis of --data-dir that a running `deskgate serve` started), "
                    "with SO_REUSEPORT so that several share one port. No triage workers, SMTP "
                    "or IMAP pollers: run them once, elsewhere (`deskgate serve`, `deskgate "
                    "worker`). `deskgate serve --gateways N` starts N-1 of these for you.")
    gateway.add_argument("--host", default=None, help="listen address (default: from config, "
                                                      "127.0.0.1)")
    gateway.add_argument("--port", type=int, default=None, help="HTTP port (default: 8080)")
    add_common(gateway)
    gateway.set_defaults(func=cmd_gateway, workers=0, job_workers=0, no_smtp=True,
                         smtp_port=None, reuse_port=True, demo=False, gateways=1)
