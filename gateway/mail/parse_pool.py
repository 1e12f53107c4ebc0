"""Mail parsing in worker processes, so that no customer's mail costs the event loop anything
but a hand-off: a parse thread shares the GIL with the loop, and a busy one made every loop
step wait (bench/hostile_mail.py). The parse itself is bounded by the parse budget
(connectors/email_parse.py, MailLimits); the processes add isolation, not the bound. They
also do the rest of the per-byte work: the body hashes of the sender check (SenderEvidence)
and SMTP's line length limit (docs/email.md, "Hostile mail").

Imports only connectors and models: a spawned worker loads no more than it needs."""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from typing import Any

from deskgate.connectors.email_config import EmailConfig
from deskgate.connectors.email_evidence import SenderEvidence
from deskgate.connectors.email_parse import Blob, ParsedMail, parse_mail
from deskgate.models.errors import Invalid
from deskgate.models.message import InboundMessage

PARSE_PROCESSES = 2


class ParserGone(RuntimeError):
    """A parse process died (killed, out of memory); the mail was not parsed, the sender
    should retry."""


class LineTooLong(Invalid):
    """A line of the mail is over SMTP's line length limit (RFC 5321 4.5.3.1.6)."""


def line_too_long(raw: bytes, limit: int) -> bool:
    """Is a CRLF-separated line longer than `limit` as it was sent? Dot-stuffing (RFC 5321
    4.5.2) added a dot to every line that starts with one. A split runs at C speed; a regex for
    "a run of 1,000 non-CRLF bytes" retries at every byte (170 ms for 330 KB)."""
    lines = raw.split(b"\r\n")
    longest = max(map(len, lines))
    return longest > limit or (longest == limit and any(
        len(line) == limit and line.startswith(b".") for line in lines))


_Job = tuple[bytes, dict[str, Any], int]
_Result = tuple[InboundMessage, tuple[Blob, ...], SenderEvidence | None] | None


def _parse_without_raw(config: EmailConfig, jobs: list[_Job]) -> list[_Result]:
    """None for a mail with a line over its job's limit (0: no limit). The raw message is the
    first blob; the caller holds it already, so it does not travel back through the pipe."""
    results: list[_Result] = []
    for raw, kwargs, max_line in jobs:
        if max_line and line_too_long(raw, max_line):
            results.append(None)
            continue
        mail = parse_mail(raw, config, **kwargs)
        results.append((mail.message, mail.blobs[1:], mail.evidence))
    return results


class MailParser:
    """A small pool of parse processes, started on first use (spawned: the gateway has
    threads, which fork would copy in an unknown state)."""

    def __init__(self, processes: int = PARSE_PROCESSES) -> None:
        self._processes = processes
        self._pool: ProcessPoolExecutor | None = None

    async def parse(self, raw: bytes, config: EmailConfig, *, account: str,
                    received_at: datetime, via: str, skill: str = "", envelope_from: str = "",
                    recipients: tuple[str, ...] = (), max_line: int = 0) -> ParsedMail:
        """parse_mail, in a parse process. ParserGone when the process died under it;
        LineTooLong when `max_line` is set and a line (without its CRLF) is longer."""
        kwargs = {"account": account, "received_at": received_at, "via": via, "skill": skill,
                  "envelope_from": envelope_from, "recipients": recipients}
        [mail] = await self._run(config, [(raw, kwargs, max_line)])
        if mail is None:
            raise LineTooLong(f"a line is longer than {max_line} bytes")
        return mail

    async def parse_batch(self, config: EmailConfig, mails: Sequence[tuple[bytes, datetime]],
                          *, account: str, via: str, skill: str = "") -> list[ParsedMail]:
        """Many mails (an IMAP batch), in one hand-off per parse process: a hand-off costs
        more than parsing a typical mail."""
        jobs: list[_Job] = [(raw, {"account": account, "received_at": received, "via": via,
                                   "skill": skill}, 0) for raw, received in mails]
        size = -(-len(jobs) // self._processes) or 1
        parts = await asyncio.gather(*(self._run(config, jobs[i:i + size])
                                       for i in range(0, len(jobs), size)))
        mails = [mail for part in parts for mail in part]
        assert all(mail is not None for mail in mails)  # these jobs have no line limit
        return [mail for mail in mails if mail is not None]

    async def _run(self, config: EmailConfig, jobs: list[_Job]) -> list[ParsedMail | None]:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self._processes, mp_context=multiprocessing.get_context("spawn"))
        pool = self._pool
        try:
            results = await asyncio.get_running_loop().run_in_executor(
                pool, _parse_without_raw, config, jobs)
        except BrokenProcessPool as exc:
            if self._pool is pool:  # the next mail gets fresh processes
                self._pool = None
                pool.shutdown(wait=False, cancel_futures=True)
            raise ParserGone(str(exc) or "a mail parse process died") from exc
        return [None if result is None else ParsedMail(
                    result[0], (Blob(result[0].meta["raw"].removeprefix("sha256:"), raw),
                                *result[1]), result[2])
                for (raw, _, _), result in zip(jobs, results, strict=True)]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
