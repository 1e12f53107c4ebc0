"""What every `deskgate` subcommand shares: --data-dir, --config, -v, and finding Redis."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from deskgate.gateway.config import Config, load_config
from deskgate.models.errors import Invalid
from deskgate.models.ids import IdRule
from deskgate.queue import connection
from deskgate.queue.keys import Keys
from deskgate.queue.redis_server import default_data_dir, redis_url_for

# serve's gateways and workers share one stderr: the process id tells whose line it is
LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s[%(process)d]: %(message)s"


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", type=Path, default=None,
                   help=f"where the embedded Redis, attachments and models live "
                        f"(default: $DESKGATE_DATA_DIR or {default_data_dir()})")
    p.add_argument("--config", default=None,
                   help="YAML configuration file (default: $DESKGATE_CONFIG or the packaged "
                        "defaults)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def data_dir(args: argparse.Namespace) -> Path:
    return (args.data_dir or default_data_dir()).expanduser().resolve()


def config(args: argparse.Namespace) -> Config:
    return load_config(args.config)


@contextmanager
def sync_redis(args: argparse.Namespace) -> Iterator[tuple[redis.Redis, Keys]]:
    """A Redis client for one-shot commands, found the way every command finds it."""
    cfg = config(args)
    with redis_url_for(data_dir(args), cfg.redis_url) as url:
        client = connection.sync_client(url)
        try:
            yield client, cfg.keys()
        finally:
            client.close()


def id_arg(rule: IdRule) -> Callable[[str], str]:
    """An argparse `type` that checks an id with the same rule as the API (models/ids.py)."""
    def check(value: str) -> str:
        try:
            return rule.check(value)
        except Invalid as exc:
            raise argparse.ArgumentTypeError(exc.message) from None
    check.__name__ = rule.kind          # argparse names the type in its error message
    return check
