"""The one error tree of Deskgate. Every part raises these (or lets the edge translate what it
caught into them); each edge maps them once: HTTP statuses in gateway/web/errors.py, SMTP replies
in gateway/mail/smtp.py, CLI exit codes in gateway/cli/main.py. Messages say what to do next."""

from __future__ import annotations


class DeskgateError(Exception):
    """`field` names the offending input when there is one; `retry_after` (seconds) tells a
    client when to try again."""

    def __init__(self, message: str, *, field: str = "", retry_after: int = 0) -> None:
        super().__init__(message)
        self.message, self.field, self.retry_after = message, field, retry_after


class Invalid(DeskgateError, ValueError):
    """The input breaks a rule (a bad id, a value out of range)."""


class Malformed(Invalid):
    """The input cannot be read at all (broken JSON, a garbled request)."""


class TooLarge(Invalid):
    """The input is over a size limit."""


class Unauthorized(DeskgateError):
    """Who is asking is unknown: no, an unknown or a revoked credential."""


class Forbidden(DeskgateError):
    """Who is asking is known and may not do this."""


class NotFound(DeskgateError, LookupError):
    """The object does not exist (or is not visible to the caller)."""


class Conflict(DeskgateError):
    """The object's state does not allow this now."""


class RateLimited(DeskgateError):
    """Too many attempts; try again after `retry_after` seconds."""


class Unavailable(DeskgateError):
    """A part Deskgate needs (Redis, the disk) cannot serve now; retry after `retry_after`."""

    def __init__(self, message: str = "storage unavailable, retry later", *, field: str = "",
                 retry_after: int = 5) -> None:
        super().__init__(message, field=field, retry_after=retry_after)
