"""Email replies through the configured SMTP relay (email.relay: STARTTLS or TLS, AUTH).

The reply threads in the customer's mail program and back onto its ticket: In-Reply-To and
References name the customer's mail, the subject carries the ticket tag, and the Message-ID is
fixed by the reply id, so a retried send carries the same one and the worker can record it
(TicketStore.record_sent) before the relay sees it. Chinese is encoded as the standards ask:
RFC 2047 words in headers, RFC 2231 file names, UTF-8 bodies (quoted-printable or base64, as
the email package picks for the content)."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import socket
import ssl
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

import aiohttp
import aiosmtplib

from deskgate.connectors.email_config import RelayConfig
from deskgate.connectors.send.base import AccessTokens, Files, Rejected, RetryLater
from deskgate.models.enums import Channel
from deskgate.models.outbound import OutboundMessage, SendResult


@dataclass(frozen=True)
class EmailAccount:
    """What the email sender needs for one account: the relay, the From address, and how to
    read an attachment's bytes from the blob store (the worker gives it)."""

    relay: RelayConfig
    sender: str
    read_blob: Callable[[str], bytes]


def message_id(message: OutboundMessage, account: EmailAccount) -> str:
    """Our Message-ID of a reply (without angle brackets): the same for every attempt."""
    domain = account.relay.message_id_domain or _domain(account.sender)
    local = hashlib.blake2b(message.reply_id.encode(), digest_size=10).hexdigest()
    return f"{message.reply_id}.{local}@{domain or 'deskgate.invalid'}"


def _angle(mid: str) -> str:
    mid = mid.strip().strip("<>")
    return f"<{mid}>"


def build(message: OutboundMessage, account: EmailAccount) -> EmailMessage:
    name, addr = parseaddr(account.sender)
    if "@" not in addr:
        raise Rejected(f"no From address for email account {message.recipient.account!r}: "
                       "set email.relay.from_addresses or default_from")
    mail = EmailMessage()
    mail["From"] = Address(display_name=name, addr_spec=addr)
    mail["To"] = message.recipient.address
    mail["Subject"] = message.subject or "Re:"
    mail["Date"] = formatdate(message.created_at.timestamp(), localtime=False)
    mail["Message-ID"] = _angle(message_id(message, account))
    if message.in_reply_to:
        mail["In-Reply-To"] = _angle(message.in_reply_to)
    refs = [_angle(r) for r in message.references if r.strip()]
    if refs:
        mail["References"] = " ".join(refs[-20:])   # the newest: a long thread stays bounded
    mail["Auto-Submitted"] = "auto-generated" if message.author == "auto" else "no"
    mail.set_content(message.text or " ", charset="utf-8")
    for att in message.attachments:
        _attach(mail, att.content_type, att.name, account.read_blob(att.ref))
    return mail


def _attach(mail: EmailMessage, content_type: str, name: str, data: bytes) -> None:
    kind, _, param_text = content_type.partition(";")
    maintype, _, subtype = kind.strip().lower().partition("/")
    params = dict(p.strip().split("=", 1) for p in param_text.split(";") if "=" in p)
    if maintype == "text" and "charset" not in params:
        # a text file without a declared charset: say UTF-8 when it is (a reader would
        # otherwise take it as ASCII and show mojibake), else send it as bytes
        try:
            data.decode("utf-8")
            params["charset"] = "utf-8"
        except UnicodeDecodeError:
            maintype, subtype = "application", "octet-stream"
    mail.add_attachment(data, maintype=maintype or "application",
                        subtype=subtype or "octet-stream", filename=name, params=params)


class EmailSender:
    """Keeps up to IDLE_SESSIONS authenticated relay sessions open between sends: a new SMTP
    session (connect, EHLO, STARTTLS, AUTH, QUIT) costs more CPU than the mail itself. A kept
    session is checked with NOOP before use; one that fails that is dropped, and nothing of
    the reply has been sent on it."""

    channel = Channel.EMAIL
    IDLE_SESSIONS = 64              # the sender worker's default concurrency

    def __init__(self) -> None:
        # per event loop: a session belongs to the loop that opened it
        self._idle: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[tuple[str, int, str, str], list[aiosmtplib.SMTP]]
        ] = weakref.WeakKeyDictionary()

    def _sessions(self, relay: RelayConfig) -> list[aiosmtplib.SMTP]:
        per_loop = self._idle.setdefault(asyncio.get_running_loop(), {})
        return per_loop.setdefault((relay.host, relay.port, relay.security, relay.username), [])

    async def send(self, message: OutboundMessage, settings: EmailAccount,
                   http: aiohttp.ClientSession, tokens: AccessTokens,
                   files: Files | None = None) -> SendResult:
        relay = settings.relay
        mail = build(message, settings)
        try:
            smtp = await self._session(relay)
            try:
                await smtp.send_message(mail)
            except BaseException:
                smtp.close()
                raise
            self._release(relay, smtp)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            reason = f"the relay refused the recipient: {_codes(exc.recipients)}"
            if all(400 <= r.code < 500 for r in exc.recipients):
                raise RetryLater(reason) from exc
            raise Rejected(reason) from exc
        except aiosmtplib.SMTPAuthenticationError as exc:
            # a wrong password stays wrong: retrying would only lock the account
            raise Rejected(f"the relay refused our login ({exc.code} {exc.message}): check "
                           "email.relay.username/password") from exc
        except aiosmtplib.SMTPResponseException as exc:
            if 400 <= exc.code < 500:
                raise RetryLater(f"relay said {exc.code} {exc.message}") from exc
            raise Rejected(f"relay said {exc.code} {exc.message}") from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise RetryLater(f"relay {relay.host}:{relay.port} unreachable: "
                             f"{type(exc).__name__}: {exc}") from exc
        return SendResult(provider_id=message_id(message, settings))

    async def _session(self, relay: RelayConfig) -> aiosmtplib.SMTP:
        idle = self._sessions(relay)
        while idle:
            smtp = idle.pop()
            try:
                await smtp.noop()
                return smtp
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                smtp.close()
        smtp = aiosmtplib.SMTP(
            hostname=relay.host, port=relay.port, timeout=relay.timeout_seconds,
            local_hostname=_ehlo_name(),
            use_tls=relay.security == "tls", start_tls=relay.security == "starttls",
            tls_context=_tls(relay.ca_file) if relay.security != "none" else None)
        await smtp.connect()
        try:
            if relay.username:
                await smtp.login(relay.username, relay.password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _release(self, relay: RelayConfig, smtp: aiosmtplib.SMTP) -> None:
        idle = self._sessions(relay)
        if len(idle) < self.IDLE_SESSIONS and smtp.is_connected:
            idle.append(smtp)
        else:
            smtp.close()


@functools.cache
def _domain(sender: str) -> str:
    return parseaddr(sender)[1].rpartition("@")[2]


@functools.cache
def _ehlo_name() -> str:
    # aiosmtplib asks the resolver (getfqdn) on every connection otherwise
    return socket.getfqdn()


@functools.cache
def _tls(ca_file: str) -> ssl.SSLContext:
    # one per CA file: building a context loads the whole trust store (milliseconds of CPU)
    return ssl.create_default_context(cafile=ca_file or None)


def _codes(refused: list[aiosmtplib.SMTPRecipientRefused]) -> str:
    return "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in refused)
