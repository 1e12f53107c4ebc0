"""Our own SMTP listener (aiosmtpd) for the configured support inboxes, run inside the gateway's
event loop as an aiohttp cleanup context.

The SMTP replies carry the durability contract: 550 at RCPT for an address that is not one of
our inboxes, 552 for DATA over the size limit, 250 only once the raw message, its attachments
and the InboundMessage are durably stored, and 451 (the sending server retries) whenever they
cannot be. Concurrent DATA commands are written to Redis in one batch (Ingest's group commit)."""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import socket
import ssl
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
from aiohttp import web
from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, LoginPassword, Session, syntax

from deskgate.connectors.email_auth import SenderVerifier, SmtpPeer
from deskgate.connectors.email_config import EmailConfig, SmtpConfig
from deskgate.connectors.email_parse import ParsedMail, with_sender_auth
from deskgate.gateway.appkeys import CONFIG, DATA_DIR, METRICS
from deskgate.gateway.config import Config
from deskgate.gateway.edge import ConnectionCounter, QuietLog
from deskgate.gateway.errors import as_deskgate_error
from deskgate.gateway.intake import accept_many_or_503, accept_or_503
from deskgate.gateway.mail.blobs import BlobStore
from deskgate.gateway.mail.parse_pool import MailParser, ParserGone
from deskgate.gateway.web.metrics import Metrics
from deskgate.models.enums import MessageKind
from deskgate.models.errors import (
    DeskgateError,
    Forbidden,
    Invalid,
    RateLimited,
    TooLarge,
    Unauthorized,
    Unavailable,
)
from deskgate.models.message import InboundMessage
from deskgate.queue.ingest import Accepted

log = logging.getLogger("deskgate.smtp")
AIOSMTPD_LOG = logging.getLogger("mail.log")
REFUSALS_LOG = QuietLog(log)

SMTP_SERVER = web.AppKey("smtp_server", asyncio.Server)
INLINE_WRITE_BYTES = 256 * 1024      # larger content (or "always" fsync) is written by a thread
INLINE_WRITE_FILES = 4               # so is an IMAP batch: one hand-off for the whole batch


class StoreFailed(Unavailable):
    """The message could not be made durable; the sender must retry (451)."""


class MailSink:
    """Durable hand-over shared by the SMTP and IMAP paths: blobs to disk, then the messages to
    the ingest stream. The batching is the ingest's own: concurrent SMTP sessions' accepts are
    group-committed by Ingest.accept, an IMAP batch goes as one accept_many. It also owns the
    processes its path (SMTP, or the IMAP pollers) parses mail in."""

    def __init__(self, app: web.Application) -> None:
        self._app = app
        cfg = app[CONFIG]  # durability always promises the mail's content as much as its entry
        self._always = cfg.email.blob_fsync == "always" or cfg.durability.mode == "always"
        self.blobs = BlobStore(app[DATA_DIR], fsync_each=self._always)
        self._sync_task: asyncio.Task[None] | None = None
        self.parser = MailParser()

    async def store(self, mails: Sequence[ParsedMail]) -> list[Accepted]:
        """Accepted for every message of every mail, in order; StoreFailed if nothing could
        be guaranteed (the caller must not acknowledge)."""
        await self._put_blobs({b.sha256: b.data for mail in mails for b in mail.blobs})
        messages = [m.message for m in mails]
        try:
            if len(messages) == 1:
                return [await accept_or_503(self._app, messages[0])]
            return await accept_many_or_503(self._app, messages)
        except Unavailable as exc:
            raise StoreFailed(exc.message) from exc

    async def _put_blobs(self, blobs: dict[str, bytes]) -> None:
        try:
            if (self._always or len(blobs) > INLINE_WRITE_FILES
                    or sum(map(len, blobs.values())) > INLINE_WRITE_BYTES):
                await asyncio.to_thread(self.blobs.put_many, blobs.items())
            else:
                # A few small files reach the page cache in tens of microseconds; handing
                # them to a thread and back cost ~0.5 ms of CPU per message (measured).
                self.blobs.put_many(blobs.items())
        except OSError as exc:
            log.error("cannot store mail content in %s: %s", self.blobs.root, exc)
            raise StoreFailed(f"content store: {exc.strerror or exc}") from exc
        if not self._always and (self._sync_task is None or self._sync_task.done()):
            self._sync_task = asyncio.create_task(self._sync_soon())

    async def _sync_soon(self) -> None:
        await asyncio.sleep(1.0)
        await self.sync()

    async def sync(self) -> None:
        try:
            await asyncio.to_thread(self.blobs.sync)
        except OSError as exc:
            log.error("cannot flush the mail content store %s: %s", self.blobs.root, exc)

    async def close(self) -> None:
        """At shutdown: whatever was acknowledged reaches the disk."""
        if self._sync_task is not None:
            self._sync_task.cancel()
        await self.sync()
        self.parser.close()


class SupportInboxHandler:
    """aiosmtpd handler: recipient policy, size policy, parse and durable accept."""

    def __init__(self, app: web.Application, sink: MailSink, verifier: SenderVerifier) -> None:
        self._app = app
        self._email: EmailConfig = app[CONFIG].email
        self._metrics: Metrics = app[METRICS]
        self._sink = sink
        self._verifier = verifier

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,  # noqa: N802
                          address: str, rcpt_options: list[str]) -> str:
        if self._email.inbox_for(address) is None:
            self._metrics.inc("deskgate_email_rejected_total", reason="unknown_recipient")
            return f"550 5.1.1 <{address}>: no such support inbox here"
        if len(envelope.rcpt_tos) >= self._email.smtp.max_recipients:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session,  # noqa: N802
                          envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        if len(raw) > self._email.smtp.max_message_bytes:
            self._metrics.inc("deskgate_email_rejected_total", reason="too_large")
            return f"552 5.3.4 Message larger than {self._email.smtp.max_message_bytes} bytes"
        try:
            mails = await self._verify(raw, await self._parse(raw, envelope), session, envelope)
            accepted = await self._sink.store(mails)
        except (StoreFailed, ParserGone) as exc:
            reason = "parser_died" if isinstance(exc, ParserGone) else "store_unavailable"
            self._metrics.inc("deskgate_email_rejected_total", reason=reason)
            log.warning("451 to %s: %s", session.peer, exc)
            return smtp_reply(exc)
        for mail, acc in zip(mails, accepted, strict=True):
            self._metrics.inc("deskgate_email_received_total", via="smtp",
                              kind=str(mail.message.kind), duplicate=str(acc.duplicate).lower())
        return f"250 2.0.0 OK queued as {accepted[0].message_id}"

    async def _verify(self, raw: bytes, mails: list[ParsedMail], session: Session,
                      envelope: Envelope) -> list[ParsedMail]:
        """The sender check (DNS, on the verifier's threads): only for mail that can become a
        ticket; bounces and auto-replies never touch one."""
        if mails[0].message.kind is not MessageKind.MESSAGE:
            return mails
        peer = session.peer[0] if isinstance(session.peer, tuple) and session.peer else ""
        auth = await self._verifier.check_async(
            raw, mails[0].message.sender_email,
            SmtpPeer(str(peer), session.host_name or "", envelope.mail_from or ""))
        return [with_sender_auth(m, auth) for m in mails]

    async def handle_exception(self, error: Exception) -> str:
        """aiosmtpd's hook for a command that raised: the reply comes from the error tree,
        never from the exception's text (upstream answers "500 Error: (Type) detail")."""
        reply = smtp_reply(as_deskgate_error(error))
        if reply.startswith("451 4.3.0 Internal"):
            log.error("SMTP command failed", exc_info=error)
        return reply

    async def _parse(self, raw: bytes, envelope: Envelope) -> list[ParsedMail]:
        """One message per distinct receiving account (support@ and billing@ are two teams);
        parsed in a parse process, never on the event loop."""
        received = datetime.now(UTC)
        inboxes = [self._email.inbox_for(a) for a in envelope.rcpt_tos]
        by_account = {i.account: i for i in inboxes if i is not None}
        first, *others = by_account.values()
        mail = await self._sink.parser.parse(
            raw, self._email, account=first.account, received_at=received, via="smtp",
            skill=first.skill, envelope_from=envelope.mail_from or "<>",
            recipients=tuple(envelope.rcpt_tos))
        return [mail] + [
            ParsedMail(_for_account(mail.message, i.account, i.skill), mail.blobs)
            for i in others]


# The SMTP face of the error tree: 4xx asks the sending server to retry, 5xx bounces.
SMTP_REPLIES: tuple[tuple[type[DeskgateError], str], ...] = (
    (TooLarge, "552 5.3.4 Message too large"),
    (Unavailable, "451 4.3.0 Cannot store the message right now, try again later"),
    (RateLimited, "450 4.7.1 Too many messages, try again later"),
    (Invalid, "550 5.6.0 Message refused: {message}"),
    (Forbidden, "550 5.7.1 Not allowed: {message}"),
    (Unauthorized, "535 5.7.8 Authentication credentials invalid"))


def smtp_reply(error: DeskgateError | None) -> str:
    for kind, reply in SMTP_REPLIES:
        if isinstance(error, kind):
            return reply.format(message=error.message.replace("\r", " ").replace("\n", " ")[:200])
    return "451 4.3.0 Internal error, try again later"


def _for_account(message: InboundMessage, account: str, skill: str) -> InboundMessage:
    return msgspec.structs.replace(message, account=account, skill_hint=skill)


def _tls_context(cfg: SmtpConfig) -> ssl.SSLContext | None:
    if not (cfg.tls_cert and cfg.tls_key):
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cfg.tls_cert, cfg.tls_key)
    return context


def _authenticator(users: dict[str, str]) -> Any:
    encoded = {login.encode(): password.encode() for login, password in users.items()}

    def authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                     auth_data: Any) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        expected = encoded.get(auth_data.login)
        ok = expected is not None and hmac.compare_digest(expected, auth_data.password)
        if not ok:
            log.warning("SMTP AUTH failed for %r from %s", auth_data.login[:64], session.peer)
        return AuthResult(success=ok, handled=False)

    return authenticate


# "<local@domain>" with dot-atom local part and domain, then nothing or blanks before the
# parameters: the form every real MTA sends in MAIL FROM / RCPT TO.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_PATH = re.compile(rf"<({_ATEXT}(?:\.{_ATEXT})*)@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>"
                         r"(?:\Z|[ \t]+(?=[^\s(]))")


_DATA_END = b"\r\n.\r\n"


class DeskgateSMTP(SMTP):
    """aiosmtpd's SMTP with Postfix's defences against slow and greedy clients, a banner that
    names only the host, and a fast path for plain addresses in MAIL/RCPT.

    Connections are counted in total and per client address (421 past either cap, before the
    banner); the idle time between commands is `timeout_seconds`, or `stress_timeout_seconds`
    while the listener is 3/4 full; the whole DATA phase has `data_timeout_seconds`. A timeout
    is answered 421 and the connection closed.

    The address fast path: upstream parses each address with email's RFC 5322 header parser
    and defines a typing.Protocol class per call: ~90 µs, twice per message, a sixth of our CPU
    per message. Anything else (null sender, quoted or non-ASCII local parts, domain literals,
    comments, routes) still takes upstream's parser; tests/email compare both on such inputs.
    DATA is read in blocks (below)."""

    def __init__(self, handler: Any, *, cfg: SmtpConfig = SmtpConfig(),
                 limits: ConnectionCounter | None = None, **kwargs: Any) -> None:
        super().__init__(handler, ident="ESMTP", timeout=cfg.timeout_seconds, **kwargs)
        self._cfg = cfg
        self._limits = limits or ConnectionCounter(cfg.max_connections,
                                                   cfg.max_connections_per_client)
        self._client = ""          # counted against the caps while set
        self._data_deadline = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._client or self.transport is not None:   # STARTTLS: the same client
            super().connection_made(transport)
            return
        peer = transport.get_extra_info("peername")
        client = str(peer[0]) if isinstance(peer, tuple) else str(peer)
        refusal = self._limits.refusal(client)
        if refusal:
            REFUSALS_LOG.log(logging.WARNING, "SMTP connection from %s refused: %s", client,
                             refusal)
            assert isinstance(transport, asyncio.WriteTransport)
            transport.write(f"421 4.7.0 {self.hostname} Error: {refusal}\r\n".encode())
            transport.close()
            return
        self._client = client
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if not self._client:      # refused before it began: aiosmtpd never saw it
            return
        self._limits.release(self._client)
        self._client = ""
        super().connection_lost(error)

    def eof_received(self) -> bool | None:
        return super().eof_received() if self._client else False

    def _reset_timeout(self, duration: float | None = None) -> None:
        if self._data_deadline:       # the DATA deadline is not extended line by line
            return
        if duration is None and self._limits.busy():
            duration = self._cfg.stress_timeout_seconds
        super()._reset_timeout(duration)

    def _timeout_cb(self) -> None:
        if self.transport is None:    # the timer outlived the connection
            return
        if not self.transport.is_closing():
            self.transport.write(f"421 4.4.2 {self.hostname} Error: timeout exceeded\r\n"
                                 .encode())
        super()._timeout_cb()

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:  # noqa: N802 - aiosmtpd's name
        """DATA under one deadline for the whole phase (not extended line by line)."""
        self._reset_timeout(self._cfg.data_timeout_seconds)
        self._data_deadline = True
        try:
            await self._data(arg)
        finally:
            self._data_deadline = False
            if self.transport is not None:
                self._reset_timeout()     # back to the idle limit for the next command

    async def _data(self, arg: str) -> None:
        """Upstream's DATA with the body read in blocks of whatever has arrived and scanned at
        C speed: upstream's loop spends ~2 µs on every line without giving the event loop back
        while lines are buffered (a mail of 700k empty lines held it for 1.4 s). Same replies:
        552 over the size limit, 500 for a line over the line length limit."""
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        try:
            body, error = await self._read_data()
        except asyncio.IncompleteReadError:  # the client went away mid-DATA: nothing to answer
            return
        if error:
            self._set_post_data_state()
            await self.push(error)
            return
        self.envelope.content = self.envelope.original_content = body
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()
        await self.push("250 OK" if status is MISSING else status)

    async def _read_data(self) -> tuple[bytes, str]:
        """The dot-unstuffed body up to CRLF.CRLF, or the error reply once all of it is read."""
        reader = self._reader
        # The CRLF that ended "DATA" went with the command; put one back so that the end
        # marker is one pattern even for an empty body (asyncio's buffer is a bytearray).
        reader._buffer[:0] = b"\r\n"  # type: ignore[attr-defined] # noqa: SLF001
        limit = self.data_size_limit
        blocks: list[bytes] = []
        size, error = 0, ""
        while True:
            try:
                block = await reader.readuntil(_DATA_END)
                done = True
            except asyncio.LimitOverrunError as exc:
                block = await reader.read(exc.consumed)  # keeps a possible partial marker
                done = False
            size += len(block)
            if not error and limit and size > limit + len(_DATA_END):
                error = "552 Error: Too much mail data"
            if error:
                blocks.clear()  # keep reading to the end marker, holding nothing
            else:
                blocks.append(block)
            if done:
                break
        if error:
            return b"", error
        body = b"".join(blocks)[:-3]  # from the restored CRLF to the last line's CRLF
        # Lines as upstream counts them (CRLF-separated); a split is linear where a regex for
        # "a run of 1,000 non-CRLF bytes" retries at every byte (170 ms for 330 KB).
        if max(map(len, body.split(b"\r\n"))) > self.line_length_limit - 2:
            return b"", "500 Line too long (see RFC5321 4.5.3.1.6)"
        return body.replace(b"\r\n.", b"\r\n")[2:], ""

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        m = _PLAIN_PATH.match(arg)
        if m is None:
            return super()._getaddr(arg)
        local = m.group(1)
        if self.local_part_limit and len(local) > self.local_part_limit:
            return None, None
        return f"{local}@{m.group(2)}", arg[m.end():]


def smtp_factory(app: web.Application, sink: MailSink, verifier: SenderVerifier,
                 limits: ConnectionCounter) -> SMTP:
    cfg = app[CONFIG].email.smtp
    tls = _tls_context(cfg)
    handler = SupportInboxHandler(app, sink, verifier)
    auth: dict[str, Any] = {}
    if cfg.auth_users:
        auth = {"authenticator": _authenticator(cfg.auth_users),
                "auth_required": cfg.auth_required, "auth_require_tls": tls is not None}
    return DeskgateSMTP(handler, limits=limits, cfg=cfg, data_size_limit=cfg.max_message_bytes,
                        enable_SMTPUTF8=True, hostname=cfg.hostname or socket.gethostname(),
                        tls_context=tls, require_starttls=cfg.require_starttls and tls is not None,
                        **auth)


async def smtp_listener(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: the listener runs exactly as long as the application."""
    cfg = app[CONFIG].email
    sink = MailSink(app)
    verifier = SenderVerifier(cfg.sender_auth)
    # aiosmtpd logs every command line at INFO, customer addresses included: five records per
    # message cost ~0.1-0.2 ms of CPU and fill the log with personal data. --verbose keeps them.
    if AIOSMTPD_LOG.level == logging.NOTSET and not log.isEnabledFor(logging.DEBUG):
        AIOSMTPD_LOG.setLevel(logging.WARNING)
    if cfg.smtp.auth_users and not (cfg.smtp.tls_cert and cfg.smtp.tls_key):
        log.warning("SMTP AUTH is configured without STARTTLS: passwords travel in clear text")
    loop = asyncio.get_running_loop()
    limits = ConnectionCounter(cfg.smtp.max_connections, cfg.smtp.max_connections_per_client)
    server = await loop.create_server(lambda: smtp_factory(app, sink, verifier, limits),
                                      cfg.smtp.host,
                                      cfg.smtp.port)
    app[SMTP_SERVER] = server
    port = server.sockets[0].getsockname()[1]
    log.info("SMTP listening on %s:%d for %s", cfg.smtp.host, port,
             ", ".join(i.address for i in cfg.inboxes) or "no inbox (every RCPT gets 550)")
    try:
        yield
    finally:
        server.close()
        await server.wait_closed()
        await sink.close()
        verifier.close()


def smtp_port(app: web.Application) -> int:
    return int(app[SMTP_SERVER].sockets[0].getsockname()[1])


def setup(app: web.Application) -> None:
    if app[CONFIG].email.smtp_enabled:
        app.cleanup_ctx.append(smtp_listener)


def with_cli_options(config: Config, port: int | None, disabled: bool) -> Config:
    """`deskgate serve --smtp-port N` (turns the listener on) / `--no-smtp` (turns it off)."""
    smtp = config.email.smtp
    if disabled:
        smtp = msgspec.structs.replace(smtp, enabled=False)
    elif port is not None:
        smtp = msgspec.structs.replace(smtp, enabled=True, port=port)
    return msgspec.structs.replace(
        config, email=msgspec.structs.replace(config.email, smtp=smtp))
