"""The `deskgate` command line. Every subcommand that needs Redis finds it the same way:
DESKGATE_REDIS_URL if set, else the embedded server of --data-dir (reusing the one a running
`deskgate serve` started), so `deskgate token create` works beside a running `serve`."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from redis.exceptions import RedisError

from deskgate.gateway.cli.common import LOG_FORMAT
from deskgate.gateway.errors import as_deskgate_error
from deskgate.models.errors import (
    DeskgateError,
    Forbidden,
    Invalid,
    RateLimited,
    Unauthorized,
    Unavailable,
)
from deskgate.queue.redis_server import RedisUnavailable

# Each module of gateway/cli/ adds its subcommands (`add_commands`); adding a command group is
# one line here.
COMMAND_GROUPS: list[str] = [
    "serve",
    "worker",
    "senders",
    "admin",
    "demo",
    "triage",
    "classifiers",
    "reports",
    "articles",
]
# The long-lived processes `serve` starts run one command each, and import only the module of
# that command: importing every group costs each of them the web app, the mail listener, DKIM
# and the training code they never use (worker 25 MB, senders 15, retraining worker 36 MB of
# memory each: docs/performance.md). Command -> its group, for those commands.
CHILD_COMMANDS: dict[str, str] = {
    "worker": "worker",
    "senders": "senders",
    "retraining-worker": "classifiers",
    "jobs": "classifiers",
    "gateway": "serve",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line, or with `command` one of CHILD_COMMANDS only its group's."""
    parser = argparse.ArgumentParser(
        prog="deskgate",
        description="Deskgate: omnichannel intake, NLP triage and skill routing for customer "
                    "service. Run `deskgate serve` to start everything on embedded defaults.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    groups = [CHILD_COMMANDS[command]] if command in CHILD_COMMANDS else COMMAND_GROUPS
    for group in groups:
        importlib.import_module(f"deskgate.gateway.cli.{group}").add_commands(sub)
    return parser


# The CLI face of the error tree; 75 is sysexits' EX_TEMPFAIL ("try again later").
EXIT_CODES: tuple[tuple[type[DeskgateError], int], ...] = (
    (Invalid, 2), (Unauthorized, 77), (Forbidden, 77), (Unavailable, 75), (RateLimited, 75))


def exit_code(error: DeskgateError) -> int:
    return next((code for kind, code in EXIT_CODES if isinstance(error, kind)), 1)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if getattr(args, "verbose", False) else logging.INFO,
                        format=LOG_FORMAT, stream=sys.stderr)
    try:
        return int(args.func(args) or 0)
    except (DeskgateError, RedisError, RedisUnavailable) as exc:
        error = as_deskgate_error(exc) or Unavailable(str(exc))
        print(f"deskgate: {error.message}", file=sys.stderr)
        return exit_code(error)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
