"""IMAP pollers for existing mailboxes (Gmail, Exchange, QQ企业邮, Aliyun, Dovecot…), one per
configured mailbox, run as an aiohttp cleanup context.

imapclient is blocking, so each mailbox gets its own thread (a one-thread executor: a mailbox
sitting in IDLE must not take a slot from anyone else's `to_thread`). The order of a round is
what makes it safe: fetch → durable ingest → flag/move → save the last UID. A crash anywhere
re-fetches at most one batch, which the ingest dedupes by Message-ID; a message is flagged or
moved only once it is in the stream; a message that cannot be ingested is quarantined with its
reason and the mailbox moves on."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiohttp import web
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from deskgate.connectors.email_auth import SenderVerifier
from deskgate.connectors.email_config import EmailConfig, ImapConfig
from deskgate.connectors.email_parse import ParsedMail, with_sender_auth
from deskgate.gateway.appkeys import CONFIG, KEYS, METRICS, REDIS
from deskgate.gateway.mail.parse_pool import ParserGone
from deskgate.gateway.mail.smtp import MailSink
from deskgate.models.enums import MessageKind
from deskgate.queue.connection import raise_if_cancelled
from deskgate.queue.mailbox_state import MailboxPosition, MailboxState

log = logging.getLogger("deskgate.imap")

T = TypeVar("T")
BACKOFF_MAX_SECONDS = 300.0
QUARANTINE_FLAG = "$DeskgateQuarantine"


class _Round:
    """What one fetch produced: raw mail and its INTERNALDATE by UID (then the parsed mail),
    and UIDs to quarantine with a reason."""

    def __init__(self) -> None:
        self.raw: dict[int, tuple[bytes, datetime]] = {}
        self.mails: dict[int, ParsedMail] = {}
        self.broken: dict[int, tuple[str, bytes | None]] = {}


class MailboxPoller:
    def __init__(self, app: web.Application, cfg: ImapConfig, sink: MailSink,
                 owner: str) -> None:
        self.cfg = cfg
        self._email: EmailConfig = app[CONFIG].email
        self._metrics = app[METRICS]
        self._state = MailboxState(app[REDIS], app[KEYS])
        self._sink = sink
        self._blobs = sink.blobs
        self._owner = owner
        self._verifier = SenderVerifier(self._email.sender_auth)
        self._executor = ThreadPoolExecutor(max_workers=1,
                                            thread_name_prefix=f"imap-{cfg.name}")
        self._client: IMAPClient | None = None
        self._idle = False
        self._move = False
        self.connected = asyncio.Event()   # set while a session is up (tests and health)

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def run(self) -> None:
        backoff = 1.0
        lease_ms = int(max(60.0, self.cfg.poll_seconds * 4) * 1000)
        while True:
            try:
                if not await self._state.lease(self.cfg.name, self._owner, lease_ms):
                    await asyncio.sleep(self.cfg.poll_seconds)
                    continue
                await self._session(lease_ms)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: log, back off, reconnect
                raise_if_cancelled(exc)
                self.connected.clear()
                self._metrics.inc("deskgate_imap_errors_total", mailbox=self.cfg.name)
                delay = backoff * (0.5 + random.random())  # noqa: S311 - jitter, not crypto
                log.warning("mailbox %s: %s: %s; reconnecting in %.1f s", self.cfg.name,
                            type(exc).__name__, exc, delay)
                await self._call(self._logout)
                await asyncio.sleep(delay)
                backoff = min(BACKOFF_MAX_SECONDS, backoff * 2)
            else:
                backoff = 1.0

    async def _session(self, lease_ms: int) -> None:
        uidvalidity, uidnext = await self._call(self._connect)
        self.connected.set()
        position = await self._state.position(self.cfg.name)
        first = position is None or position.uidvalidity != uidvalidity
        if first and position is not None:
            log.warning("mailbox %s: UIDVALIDITY changed (%d → %d); rescanning, duplicates "
                        "are recognised by Message-ID", self.cfg.name, position.uidvalidity,
                        uidvalidity)
        last = 0 if first else position.last_uid  # type: ignore[union-attr]
        while True:
            uids, announced = await self._call(self._search, last,
                                               first and self.cfg.start_from == "unseen")
            for start in range(0, len(uids), self.cfg.batch):
                chunk = uids[start:start + self.cfg.batch]
                await self._ingest(chunk)
                last = max(last, chunk[-1])
                await self._state.save(self.cfg.name, MailboxPosition(uidvalidity, last))
            if first:
                # Messages older than the first contact that were skipped (seen ones, under
                # start_from "unseen") stay skipped; anything newer has a UID >= UIDNEXT.
                last = max(last, uidnext - 1)
                await self._state.save(self.cfg.name, MailboxPosition(uidvalidity, last))
                first = False
            if not await self._state.lease(self.cfg.name, self._owner, lease_ms):
                log.info("mailbox %s: another gateway holds the lease now", self.cfg.name)
                return
            if uids or announced:
                # Mail announced (untagged EXISTS) in the replies to our SEARCH/FETCH/STORE is
                # not announced again by IDLE: only a search after which the server announced
                # nothing may wait (else 5 s stalls in the bench, 91-149 msgs/s).
                continue
            if self._idle:
                await self._call(self._idle_wait)
            else:
                await self._call(self._require().noop)
                await asyncio.sleep(self.cfg.poll_seconds)

    async def _ingest(self, uids: list[int]) -> None:
        fetched = await self._call(self._fetch, uids)
        await self._parse(fetched)
        if fetched.mails:
            ordered = sorted(fetched.mails)
            accepted = await self._sink.store([fetched.mails[u] for u in ordered])
            for uid, acc in zip(ordered, accepted, strict=True):
                self._metrics.inc("deskgate_email_received_total", via="imap",
                                  kind=str(fetched.mails[uid].message.kind),
                                  duplicate=str(acc.duplicate).lower())
            await self._call(self._after_ingest, ordered)
        for uid, (reason, raw) in sorted(fetched.broken.items()):
            ref = await asyncio.to_thread(self._blobs.put, raw) if raw else ""
            await self._state.quarantine(self.cfg.name, uid, reason, ref)
            self._metrics.inc("deskgate_email_quarantined_total", mailbox=self.cfg.name)
            log.warning("mailbox %s: UID %d quarantined: %s", self.cfg.name, uid, reason)
        if fetched.broken:
            await self._call(self._mark_quarantined, sorted(fetched.broken))

    async def _parse(self, fetched: _Round) -> None:
        """In parse processes, as SMTP mail is (parse_mail itself never raises); then the
        sender check, whose DNS look-ups run in the mailbox's own thread."""
        uids = sorted(fetched.raw)
        if not uids:
            return
        await self._parse_in_processes(fetched, uids)
        await self._call(self._check_senders, fetched)

    async def _parse_in_processes(self, fetched: _Round, uids: list[int]) -> None:
        parser, cfg = self._sink.parser, self.cfg
        via = f"imap:{cfg.name}"
        try:
            mails = await parser.parse_batch(self._email, [fetched.raw[u] for u in uids],
                                             account=cfg.account, via=via, skill=cfg.skill)
            fetched.mails.update(zip(uids, mails, strict=True))
            return
        except ParserGone:
            log.warning("mailbox %s: a parse process died; parsing the batch one by one",
                        cfg.name)
        # One mail that kills the parser every time must not stall the mailbox: it is the one
        # whose own parse dies, and it goes to quarantine with its raw.
        for uid in uids:
            raw, received = fetched.raw[uid]
            try:
                fetched.mails[uid] = await parser.parse(raw, self._email, account=cfg.account,
                                                        received_at=received, via=via,
                                                        skill=cfg.skill)
            except ParserGone as exc:
                fetched.broken[uid] = (f"the mail parser died on it: {exc}", raw)

    # --- blocking parts, run in the mailbox's own thread -------------------------------------

    def _check_senders(self, fetched: _Round) -> None:
        """Our MTA's Authentication-Results, else DKIM alignment checked here; only for mail
        that can become a ticket."""
        for uid, mail in list(fetched.mails.items()):
            if mail.message.kind is MessageKind.MESSAGE:
                fetched.mails[uid] = with_sender_auth(mail, self._verifier.check(
                    fetched.raw[uid][0], mail.message.sender_email))

    def _connect(self) -> tuple[int, int]:
        cfg = self.cfg
        client = IMAPClient(cfg.host, port=cfg.port, ssl=cfg.tls, timeout=cfg.timeout_seconds)
        client.normalise_times = False  # keep INTERNALDATE's zone: received_at is UTC-aware
        try:
            if cfg.starttls and not cfg.tls:
                client.starttls(ssl.create_default_context())
            client.login(cfg.user, cfg.password)
            caps = client.capabilities()
            self._idle = cfg.idle and b"IDLE" in caps
            self._move = b"MOVE" in caps
            if cfg.after_ingest == "move" and not client.folder_exists(cfg.move_to):
                client.create_folder(cfg.move_to)
            selected = client.select_folder(cfg.folder)
        except BaseException:
            with contextlib.suppress(Exception):
                client.logout()
            raise
        self._client = client
        uidvalidity = int(selected[b"UIDVALIDITY"])
        uidnext = int(selected.get(b"UIDNEXT", 1))
        log.info("mailbox %s: %s@%s/%s selected (UIDVALIDITY %d, %s)", cfg.name, cfg.user,
                 cfg.host, cfg.folder, uidvalidity, "IDLE" if self._idle else "polling")
        return uidvalidity, uidnext

    def _search(self, last: int, unseen_only: bool) -> tuple[list[int], bool]:
        """New UIDs, and whether the server announced more mail with its answer: Dovecot, for
        one, answers SEARCH from the view of its last sync and reports what arrived since in
        an untagged EXISTS after the results. imapclient leaves such replies in imaplib's
        untagged_responses; one there from before this search is covered by it."""
        client = self._require()
        untagged = client._imap.untagged_responses  # noqa: SLF001 - not surfaced otherwise
        untagged.pop("EXISTS", None)
        criteria: list[Any] = ["UNSEEN"] if unseen_only else ["UID", f"{last + 1}:*"]
        # "n:*" always matches the newest message even when its UID is below n
        found = sorted(u for u in client.search(criteria) if u > last)
        return found, untagged.pop("EXISTS", None) is not None

    def _fetch(self, uids: list[int]) -> _Round:
        client = self._require()
        result = _Round()
        limit = self._email.smtp.max_message_bytes
        sizes = client.fetch(uids, ["RFC822.SIZE"])
        wanted = []
        for uid in uids:
            size = sizes.get(uid, {}).get(b"RFC822.SIZE")
            if size is None:
                continue  # expunged meanwhile: nothing to ingest, nothing lost
            if int(size) > limit:
                result.broken[uid] = (f"{size} bytes is over the {limit}-byte limit", None)
            else:
                wanted.append(uid)
        bodies = client.fetch(wanted, ["BODY.PEEK[]", "INTERNALDATE"]) if wanted else {}
        for uid in wanted:
            data = bodies.get(uid, {})
            raw = data.get(b"BODY[]")
            if not isinstance(raw, bytes):
                result.broken[uid] = ("the server returned no message body", None)
                continue
            internal = data.get(b"INTERNALDATE")
            received = (internal.astimezone(UTC) if isinstance(internal, datetime)
                        and internal.tzinfo else datetime.now(UTC))
            result.raw[uid] = (raw, received)
        return result

    def _after_ingest(self, uids: list[int]) -> None:
        client, cfg = self._require(), self.cfg
        if cfg.after_ingest == "seen":
            client.add_flags(uids, [b"\\Seen"])
        elif cfg.after_ingest == "flag":
            client.add_flags(uids, [cfg.flag.encode()])
        elif cfg.after_ingest == "move":
            if self._move:
                client.move(uids, cfg.move_to)
            else:
                client.copy(uids, cfg.move_to)
                client.delete_messages(uids)
                client.uid_expunge(uids) if client.has_capability("UIDPLUS") else client.expunge()

    def _mark_quarantined(self, uids: list[int]) -> None:
        with contextlib.suppress(IMAPClientError):  # servers without keywords: Redis has it
            self._require().add_flags(uids, [QUARANTINE_FLAG.encode()])

    def _idle_wait(self) -> None:
        client = self._require()
        client.idle()
        try:
            client.idle_check(timeout=self.cfg.poll_seconds)
        finally:
            client.idle_done()

    def _require(self) -> IMAPClient:
        if self._client is None:
            raise IMAPClientError("not connected")
        return self._client

    def _logout(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.logout()

    async def release(self) -> None:
        with contextlib.suppress(Exception):  # Redis may be gone at shutdown; the lease expires
            await self._state.lease(self.cfg.name, self._owner, 0)

    def abort(self) -> None:
        """From the event loop at shutdown: wake the thread out of IDLE by closing its socket."""
        client = self._client
        if client is not None:
            with contextlib.suppress(OSError):
                client.socket().shutdown(socket.SHUT_RDWR)
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._verifier.close()


POLLERS = web.AppKey("imap_pollers", list)


async def imap_pollers(app: web.Application) -> AsyncIterator[None]:
    sink = MailSink(app)
    owner = f"{socket.gethostname()}:{os.getpid()}:{id(app):x}"
    pollers = [MailboxPoller(app, cfg, sink, owner) for cfg in app[CONFIG].email.imap]
    app[POLLERS] = pollers
    tasks = [asyncio.create_task(p.run(), name=f"imap-{p.cfg.name}") for p in pollers]
    try:
        yield
    finally:
        for poller, task in zip(pollers, tasks, strict=True):
            task.cancel()
            poller.abort()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(p.release() for p in pollers))
        await sink.close()


def setup(app: web.Application) -> None:
    if app[CONFIG].email.imap:
        app.cleanup_ctx.append(imap_pollers)
