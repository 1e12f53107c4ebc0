"""The `deskgate` command line. Every subcommand that needs Redis finds it the same way:
DESKGATE_REDIS_URL if set, else the embedded server of --data-dir (reusing the one a running
`deskgate serve` started), so `deskgate token create` works beside a running `serve`."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable

from deskgate.gateway import cli_admin, cli_models, cli_triage, demo, serve
from deskgate.gateway.cli_common import LOG_FORMAT
from deskgate.gateway.config import ConfigError
from deskgate.queue.redis_server import RedisUnavailable

# Each module adds its subcommands; adding a command group is one line here.
COMMAND_GROUPS: list[Callable[[argparse._SubParsersAction], None]] = [
    serve.add_commands,
    cli_admin.add_commands,
    demo.add_commands,
    cli_triage.add_commands,
    cli_models.add_commands,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deskgate",
        description="Deskgate: omnichannel intake, NLP triage and skill routing for customer "
                    "service. Run `deskgate serve` to start everything on embedded defaults.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in COMMAND_GROUPS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if getattr(args, "verbose", False) else logging.INFO,
                        format=LOG_FORMAT, stream=sys.stderr)
    try:
        return int(args.func(args) or 0)
    except (ConfigError, RedisUnavailable) as exc:
        print(f"deskgate: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
