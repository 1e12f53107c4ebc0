"""Email replies through the configured SMTP relay (email.relay: STARTTLS or TLS, AUTH).

The reply threads in the customer's mail program and back onto its ticket: In-Reply-To and
References name the customer's mail, the subject carries the ticket tag, and the Message-ID is
fixed by the reply id, so a retried send carries the same one and the worker can record it
(TicketStore.record_sent) before the relay sees it. Chinese is encoded as the standards ask:
RFC 2047 words in headers, RFC 2231 file names, UTF-8 bodies (quoted-printable or base64, as
the email package picks for the content).

A text-only reply whose addresses and message ids are plain ASCII (nearly every reply) is
rendered straight to bytes by `render` rather than built as an EmailMessage and flattened: the
email package's default policy parses every header it is given back into a tree and folds it
again, which cost most of a sender worker's CPU per reply (docs/performance.md). `render` gives
the same headers and body once decoded (tests/outbound/test_email_render.py compares the two on
Chinese, long and ASCII subjects, long reference lists and multi-line bodies), always 7-bit
clean; anything else (attachments, CR/LF or non-ASCII where a header must be ASCII) goes
through `build`."""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import quopri
import re
import socket
import ssl
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formataddr, formatdate, parseaddr

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


def _from(message: OutboundMessage, account: EmailAccount) -> tuple[str, str]:
    name, addr = parseaddr(account.sender)
    if "@" not in addr:
        raise Rejected(f"no From address for email account {message.recipient.account!r}: "
                       "set email.relay.from_addresses or default_from")
    return name, addr


def _references(message: OutboundMessage) -> list[str]:
    # the newest: a long thread stays bounded
    return [_angle(r) for r in message.references if r.strip()][-20:]


def build(message: OutboundMessage, account: EmailAccount) -> EmailMessage:
    name, addr = _from(message, account)
    mail = EmailMessage()
    mail["From"] = Address(display_name=name, addr_spec=addr)
    mail["To"] = message.recipient.address
    mail["Subject"] = message.subject or "Re:"
    mail["Date"] = formatdate(message.created_at.timestamp(), localtime=False)
    mail["Message-ID"] = _angle(message_id(message, account))
    if message.in_reply_to:
        mail["In-Reply-To"] = _angle(message.in_reply_to)
    refs = _references(message)
    if refs:
        mail["References"] = " ".join(refs)
    mail["Auto-Submitted"] = _auto_submitted(message)
    mail.set_content(message.text or " ", charset="utf-8")
    for att in message.attachments:
        _attach(mail, att.content_type, att.name, account.read_blob(att.ref))
    return mail


def _auto_submitted(message: OutboundMessage) -> str:
    return "auto-generated" if message.author == "auto" else "no"


# an address or message id `render` may write as it is: printable ASCII, no white space, none
# of the characters that would need quoting or end the field
_ATEXT = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~.-"
_PLAIN = re.compile(f"[{_ATEXT}]+@[{_ATEXT}\\[\\]]+")
_LINE = 78          # RFC 5322's recommended line length (the email package folds at it too)


def render(message: OutboundMessage, account: EmailAccount) -> bytes | None:
    """The reply as the bytes of a mail ready for DATA (CRLF line ends), or None when it needs
    `build` (attachments, or a value this fast path does not encode)."""
    name, addr = _from(message, account)
    ids = [message_id(message, account), message.in_reply_to, *message.references]
    if (message.attachments or not _PLAIN.fullmatch(addr)
            or not _PLAIN.fullmatch(message.recipient.address)
            or not all(_PLAIN.fullmatch(i.strip().strip("<>")) for i in ids if i.strip())
            or any(c in message.subject for c in "\r\n\0") or "=?" in message.subject):
        return None
    lines = [f"From: {_fold(formataddr((name, addr), 'utf-8'), len('From: '))}",
             f"To: {message.recipient.address}",
             f"Subject: {_subject(message.subject or 'Re:')}",
             f"Date: {formatdate(message.created_at.timestamp(), localtime=False)}",
             f"Message-ID: {_angle(message_id(message, account))}"]
    if message.in_reply_to:
        lines.append(f"In-Reply-To: {_angle(message.in_reply_to)}")
    refs = _references(message)
    if refs:
        lines.append("References: " + _fold(" ".join(refs), len("References: ")))
    lines.append(f"Auto-Submitted: {_auto_submitted(message)}")
    if any(len(line) > 998 for h in lines for line in h.split("\r\n")):
        return None      # a word too long to fold: RFC 5322's hard limit
    cte, body = _body(message.text or " ")
    lines += ['Content-Type: text/plain; charset="utf-8"', f"Content-Transfer-Encoding: {cte}",
              "MIME-Version: 1.0", "", body]
    return "\r\n".join(lines).encode("ascii")


def _subject(subject: str) -> str:
    if subject.isascii():
        return _fold(subject, len("Subject: "))
    # RFC 2047 encoded words (split on character boundaries), folded
    return Header(subject, "utf-8", header_name="Subject").encode(linesep="\r\n")


def _fold(value: str, used: int = 0) -> str:
    """Fold a header value at spaces so lines stay within _LINE where a word allows."""
    out, line = [], used
    for word in value.split(" "):
        if out and line + 1 + len(word) > _LINE:
            out.append("\r\n " + word)
            line = 1 + len(word)
        else:
            out.append((" " if out else "") + word)
            line += len(out[-1])
    return "".join(out)


def _body(text: str) -> tuple[str, str]:
    """(Content-Transfer-Encoding, body with CRLF line ends and a final CRLF): 7bit for short
    ASCII lines, quoted-printable for ASCII with long lines, base64 for anything else."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.endswith("\n"):
        text += "\n"
    if text.isascii():
        if max(len(line) for line in text.split("\n")) <= _LINE and "\0" not in text:
            return "7bit", text.replace("\n", "\r\n")
        encoded = quopri.encodestring(text.encode("ascii")).decode("ascii")
        return "quoted-printable", encoded.replace("\n", "\r\n")
    # RFC 2045 6.8: text in canonical form (CRLF line ends) before base64
    return "base64", base64.encodebytes(text.replace("\n", "\r\n").encode("utf-8")).decode(
        "ascii").replace("\n", "\r\n")


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
    session idle longer than FRESH_SECONDS is checked with NOOP before use; one that fails that
    is dropped, and nothing of the reply has been sent on it. One used more recently goes
    without: relays drop idle sessions after minutes (RFC 5321 asks for 5), and the round trip
    was a fifth of the relay conversation; should one have gone anyway, the send fails before
    DATA and the reply is retried like any other connection error."""

    channel = Channel.EMAIL
    IDLE_SESSIONS = 64              # the sender worker's default concurrency
    FRESH_SECONDS = 10.0

    def __init__(self) -> None:
        # per event loop: a session belongs to the loop that opened it; each with when it
        # was last released
        self._idle: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop,
            dict[tuple[str, int, str, str], list[tuple[aiosmtplib.SMTP, float]]]
        ] = weakref.WeakKeyDictionary()

    def _sessions(self, relay: RelayConfig) -> list[tuple[aiosmtplib.SMTP, float]]:
        per_loop = self._idle.setdefault(asyncio.get_running_loop(), {})
        return per_loop.setdefault((relay.host, relay.port, relay.security, relay.username), [])

    async def send(self, message: OutboundMessage, settings: EmailAccount,
                   http: aiohttp.ClientSession, tokens: AccessTokens,
                   files: Files | None = None) -> SendResult:
        relay = settings.relay
        raw = render(message, settings)
        mail = build(message, settings) if raw is None else None
        try:
            smtp = await self._session(relay)
            try:
                if mail is not None:
                    await smtp.send_message(mail)
                else:
                    await smtp.sendmail(_from(message, settings)[1],
                                        [message.recipient.address], raw)
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
            smtp, released = idle.pop()
            if time.monotonic() - released < self.FRESH_SECONDS:
                return smtp
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
            idle.append((smtp, time.monotonic()))
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
