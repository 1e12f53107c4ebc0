"""Mail parsing in worker processes, so that no customer's mail costs the event loop anything
but a hand-off: a parse thread shares the GIL with the loop, and a busy one made every loop
step wait (bench/hostile_mail.py). The parse itself is bounded by the parse budget
(connectors/email_parse.py, MailLimits); the processes add isolation, not the bound.

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
from deskgate.connectors.email_parse import Blob, ParsedMail, parse_mail
from deskgate.models.message import InboundMessage

PARSE_PROCESSES = 2


class ParserGone(RuntimeError):
    """A parse process died (killed, out of memory); the mail was not parsed, the sender
    should retry."""


def _parse_without_raw(config: EmailConfig, jobs: list[tuple[bytes, dict[str, Any]]]
                       ) -> list[tuple[InboundMessage, tuple[Blob, ...]]]:
    # The raw message is the first blob; the caller holds it already, so it does not travel
    # back through the pipe.
    return [(mail.message, mail.blobs[1:])
            for mail in (parse_mail(raw, config, **kwargs) for raw, kwargs in jobs)]


class MailParser:
    """A small pool of parse processes, started on first use (spawned: the gateway has
    threads, which fork would copy in an unknown state)."""

    def __init__(self, processes: int = PARSE_PROCESSES) -> None:
        self._processes = processes
        self._pool: ProcessPoolExecutor | None = None

    async def parse(self, raw: bytes, config: EmailConfig, *, account: str,
                    received_at: datetime, via: str, skill: str = "", envelope_from: str = "",
                    recipients: tuple[str, ...] = ()) -> ParsedMail:
        """parse_mail, in a parse process. ParserGone when the process died under it."""
        kwargs = {"account": account, "received_at": received_at, "via": via, "skill": skill,
                  "envelope_from": envelope_from, "recipients": recipients}
        return (await self._run(config, [(raw, kwargs)]))[0]

    async def parse_batch(self, config: EmailConfig, mails: Sequence[tuple[bytes, datetime]],
                          *, account: str, via: str, skill: str = "") -> list[ParsedMail]:
        """Many mails (an IMAP batch), in one hand-off per parse process: a hand-off costs
        more than parsing a typical mail."""
        jobs = [(raw, {"account": account, "received_at": received, "via": via,
                       "skill": skill}) for raw, received in mails]
        size = -(-len(jobs) // self._processes) or 1
        parts = await asyncio.gather(*(self._run(config, jobs[i:i + size])
                                       for i in range(0, len(jobs), size)))
        return [mail for part in parts for mail in part]

    async def _run(self, config: EmailConfig,
                   jobs: list[tuple[bytes, dict[str, Any]]]) -> list[ParsedMail]:
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
        return [ParsedMail(message, (Blob(message.meta["raw"].removeprefix("sha256:"), raw),
                                     *blobs))
                for (raw, _), (message, blobs) in zip(jobs, results, strict=True)]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
