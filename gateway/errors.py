"""What a failure means to a client, decided once for every edge: HTTP (gateway/web/errors.py
gives the status), SMTP (gateway/mail/smtp.py gives the reply code) and the CLI (gateway/cli/main.py
gives the exit code) all ask `as_deskgate_error`, so a Redis that is down, loading or refusing
writes is "unavailable" everywhere and a msgspec validation error names its field everywhere."""

from __future__ import annotations

from typing import NoReturn

import msgspec
from redis.exceptions import MaxConnectionsError, RedisError, ResponseError

from deskgate.models.errors import DeskgateError, Invalid, Unavailable

# Redis answers that mean our command was wrong (a bug to fix), not that Redis cannot serve:
# LOADING, READONLY, MISCONF (persistence failing), OOM and lost connections are "unavailable".
REDIS_BUGS = ("WRONGTYPE", "ERR ")
# A full connection pool (queue/connection.py PoolBusy) is this process being busy: the command
# never ran, and another try a moment later usually finds a free connection.
BUSY_RETRY_AFTER_SECONDS = 1


def as_deskgate_error(exc: BaseException) -> DeskgateError | None:
    """What a failure means to a client, or None for a bug. Every edge (HTTP, SMTP, CLI) asks
    this, so a Redis that is down, loading or refusing writes is "unavailable" everywhere."""
    if isinstance(exc, DeskgateError):
        return exc
    if isinstance(exc, ResponseError) and str(exc).startswith(REDIS_BUGS):
        return None
    if isinstance(exc, MaxConnectionsError):
        return Unavailable(f"busy, retry after {BUSY_RETRY_AFTER_SECONDS} s",
                           retry_after=BUSY_RETRY_AFTER_SECONDS)
    if isinstance(exc, RedisError):
        return Unavailable("storage unavailable, retry later")
    if isinstance(exc, msgspec.ValidationError):
        return Invalid(str(exc), field=validation_field(exc))
    return None


def validation_field(exc: msgspec.ValidationError) -> str:
    """msgspec says e.g. "Expected `str`, got `int` - at `$.sender.email`": keep the path."""
    text = str(exc)
    return text.rsplit("at `$.", 1)[1].rstrip("`") if "at `$." in text else ""


def raise_validation(exc: msgspec.ValidationError) -> NoReturn:
    raise Invalid(str(exc), field=validation_field(exc)) from exc
