"""Raw RFC 5322 bytes (from SMTP DATA or an IMAP fetch) → one InboundMessage plus the bytes
to put in the content store (the raw message and its attachments).

Parsed with the standard `email` package under `policy.compat32`: it is about ten times faster
than `policy.default` here, and headers and bodies are decoded by this module anyway, because
real Chinese mail declares gb2312 while using GBK characters, sends raw 8-bit GBK headers, or
omits the charset — cases the stock decoders turn into U+FFFD or mojibake. Any failure gives a
degraded MESSAGE carrying what could be read and a reference to the raw bytes, never an
exception and never a silent drop."""

from __future__ import annotations

import codecs
import hashlib
import re
from collections.abc import Sequence
from datetime import datetime
from email import message_from_bytes, policy
from email.header import decode_header
from email.message import Message
from email.utils import getaddresses, parseaddr

import charset_normalizer
import msgspec

from deskgate.connectors.email_auth import NOT_CHECKED
from deskgate.connectors.email_config import EmailConfig, MailLimits, normalize_address
from deskgate.connectors.email_evidence import SenderEvidence, header_end, sender_evidence
from deskgate.connectors.email_text import MailText, html_to_text, reply_text
from deskgate.models.enums import Channel, IdentityKind, MessageKind
from deskgate.models.message import Attachment, Identity, InboundMessage, Sender, SenderAuth

# Declared charsets that real mailers use for a superset: decoding with the superset turns the
# "gb2312" mail full of GBK-only characters (e.g. 镕, 喆) into text instead of U+FFFD.
_SUPERSET = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "euc-cn": "gb18030",
             "cp936": "gb18030", "big5": "big5hkscs", "x-big5": "big5hkscs", "cp950": "big5hkscs",
             "ks_c_5601-1987": "cp949", "euc-kr": "cp949", "iso-8859-1": "cp1252",
             "us-ascii": "utf-8", "ascii": "utf-8", "unknown-8bit": "utf-8", "x-unknown": "utf-8",
             "shift_jis": "cp932", "sjis": "cp932", "iso-2022-jp": "iso2022_jp_ext"}
_GUESS_MIN_BYTES = 16          # below this, GB vs Big5 statistics are noise
# "[#DG-3-K7Q2M4XA]": the ticket number and its MAC (models/ticket.py ticket_tag); a bare
# "[#DG-3]" is a guess anyone can make and is no reference at all
_TICKET_REF = re.compile(r"\[#?\s*(DG-\d{1,12}-[A-Z2-7]{8})\s*\]", re.IGNORECASE)
_MSGID = re.compile(r"<([^<>\s]{1,500})>")
_AUTO_SUBJECT = re.compile(
    r"^\s*(?:automatic reply|auto(?:matic)?[- ]?(?:reply|response)|out of (?:the )?office|"
    r"autoreply|自动回复|自動回覆|自动答复|自動回复|休假|不在办公室)\s*[:：]", re.IGNORECASE)
_BOUNCE_SUBJECT = re.compile(
    r"^\s*(?:undeliverable|undelivered mail returned to sender|delivery status notification|"
    r"mail delivery (?:failed|failure|system)|returned mail|failure notice|"
    r"系统退信|退信|邮件投递失败|投递失败|未能送达)", re.IGNORECASE)
_DAEMON = re.compile(r"^(?:mailer-daemon|postmaster|mail-daemon|mailerdaemon)@", re.IGNORECASE)
# Trace headers added on the way in differ between the SMTP path and an IMAP copy of the same
# mail; a synthesized id must not depend on them.
_TRACE = re.compile(rb"^(?:received|return-path|delivered-to|x-original-to|x-received|"
                    rb"arc-[a-z-]+|authentication-results|x-spam[a-z-]*)\s*:", re.IGNORECASE)
_MAX_EXTERNAL_ID = 256
_SURROGATE = re.compile("[\udc80-\udcff]")   # raw 8-bit bytes the parser escaped
_FOLD = re.compile(r"\s*[\r\n]+\s*")
_MAX_META = 1000
# Decoding (RFC 2047 words, address lists) is not linear in Python's email package: a value
# is read up to this length, far beyond any real Subject, From or References.
_MAX_HEADER_VALUE = 16 * 1024


class Blob(msgspec.Struct, frozen=True):
    """Bytes the gateway must store before acknowledging (content-addressed by sha256)."""

    sha256: str
    data: bytes


class ParsedMail(msgspec.Struct, frozen=True):
    """`evidence` is what the sender check needs from the body, read here; None when the
    sender is not to be checked: mail that cannot become a ticket, and degraded mail (it was
    not parsed, so it stays unverified: NOT_PARSED)."""

    message: InboundMessage
    blobs: tuple[Blob, ...]
    evidence: SenderEvidence | None = None


# Degraded mail skips the sender check: its bytes are the ones that were too costly to read.
# Unverified, it threads onto no ticket by its From address (models/message.py).
NOT_PARSED = SenderAuth(verified=False,
                        detail="not checked: the mail was over the parse budget or unreadable")


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Text from bytes in the declared charset (or its superset); undeclared or wrong, the
    first of UTF-8 / GB18030 / Big5 that decodes cleanly (a statistical guess between GB and
    Big5 when both do and there is enough text to tell); else replacement characters."""
    declared = _codec(charset)
    if declared:
        try:
            return data.decode(declared)
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    decoded = {}
    for name in ("gb18030", "big5hkscs"):
        try:
            decoded[name] = data.decode(name)
        except UnicodeDecodeError:
            continue
    if len(decoded) == 2 and len(data) >= _GUESS_MIN_BYTES:
        best = charset_normalizer.from_bytes(data[:4096],
                                             cp_isolation=list(decoded)).best()
        if best is not None and best.encoding in decoded:
            return decoded[best.encoding]
    if decoded:  # short and ambiguous: mainland GB mail is by far the more common
        return next(iter(decoded.values()))
    return data.decode(declared or "utf-8", errors="replace")


def _codec(charset: str | None) -> str | None:
    if not charset:
        return None
    name = charset.strip().strip('"').lower()
    name = _SUPERSET.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_header_value(value: str) -> str:
    """A header as a person reads it: RFC 2047 encoded-words in any charset, and raw 8-bit
    (often GBK) bytes that arrive surrogate-escaped from the parser."""
    if value.isascii() and "=?" not in value:  # most headers: nothing to decode
        return _unfold(value)
    raw = value.encode("ascii", "surrogateescape") if _has_surrogates(value) else None
    if raw is not None and b"=?" not in raw:
        return _unfold(decode_bytes(raw, None))
    if raw is not None:
        value = decode_bytes(raw, None)
    try:
        chunks = decode_header(value)
    except (ValueError, LookupError, AssertionError):
        return _unfold(value)
    out: list[str] = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            out.append(chunk)
        else:
            out.append(decode_bytes(chunk, charset))
    return _unfold("".join(out))


def _has_surrogates(value: str) -> bool:
    return not value.isascii() and _SURROGATE.search(value) is not None


def _unfold(value: str) -> str:
    if "\n" not in value and "\r" not in value:
        return value.strip()
    return _FOLD.sub(" ", value).strip()


def message_ids(value: str) -> list[str]:
    """The <id> values of a Message-ID / In-Reply-To / References header, brackets removed."""
    found = _MSGID.findall(value)
    if not found and value.strip() and " " not in value.strip():
        found = [value.strip().strip("<>")]  # a bare id some mailers send without brackets
    return found


def ticket_ref(subject: str) -> str:
    m = _TICKET_REF.search(subject)
    return m.group(1).upper() if m else ""


def with_sender_auth(mail: ParsedMail, auth: SenderAuth) -> ParsedMail:
    return msgspec.structs.replace(
        mail, message=msgspec.structs.replace(mail.message, sender_auth=auth))


def parse_mail(raw: bytes, config: EmailConfig, *, account: str, received_at: datetime,
               via: str, skill: str = "", envelope_from: str = "",
               recipients: Sequence[str] = ()) -> ParsedMail:
    """Never raises on any input bytes: unparseable mail, and mail over the parse budget
    (MailLimits), becomes a degraded message with its raw kept. CPU-bound: callers on an event
    loop run it in a thread."""
    raw_sha = hashlib.sha256(raw).hexdigest()
    over = over_budget(raw, config.limits)
    if over:
        return _degraded(raw, raw_sha, f"over the parse budget: {over}", account=account,
                         received_at=received_at, via=via, skill=skill,
                         envelope_from=envelope_from)
    try:
        return _parse(raw, raw_sha, config, account=account, received_at=received_at, via=via,
                      skill=skill, envelope_from=envelope_from, recipients=recipients)
    except Exception as exc:  # any parser bug must degrade, not drop the mail
        return _degraded(raw, raw_sha, f"{type(exc).__name__}: {exc}", account=account,
                         received_at=received_at, via=via, skill=skill,
                         envelope_from=envelope_from)


def over_budget(raw: bytes, limits: MailLimits) -> str:
    """Why the MIME parser must not see these bytes ("" when it may). The standard parser tests
    every line against every open multipart boundary (950 nested multiparts of 65k lines took
    14 s), so its cost is bounded by counts taken in a few passes at C speed (~80 ms for
    25 MB): the declared boundaries and attached messages bound the nesting, whatever
    spelling or whitespace the Content-Type uses."""
    head_end = header_end(raw)
    if head_end > limits.max_header_bytes:
        return f"header block of {head_end} bytes > {limits.max_header_bytes}"
    head = raw[:head_end]
    fields = head.count(b"\n") + 1 - head.count(b"\n ") - head.count(b"\n\t")
    if fields > limits.max_header_fields:
        return f"{fields} header fields > {limits.max_header_fields}"
    lines = raw.count(b"\n") + 1
    if lines > limits.max_lines:
        return f"{lines} lines > {limits.max_lines}"
    low = raw.lower()
    levels = low.count(b"boundary") + low.count(b"message/")
    if levels > limits.max_mime_levels:
        return f"{levels} MIME levels > {limits.max_mime_levels}"
    delimiters = raw.count(b"\n--")
    if delimiters > limits.max_part_delimiters:
        return f"{delimiters} part delimiters > {limits.max_part_delimiters}"
    if lines * (levels + 1) > limits.max_line_levels:
        return (f"{lines} lines × {levels + 1} MIME levels > {limits.max_line_levels}")
    return ""


class _Headers:
    """Decoded header values by lower-cased name (first occurrence wins for single use)."""

    def __init__(self, msg: Message) -> None:
        self.raw: dict[str, list[str]] = {}
        for name, value in msg.raw_items():
            self.raw.setdefault(name.strip().lower(), []).append(str(value))

    def first_raw(self, name: str) -> str:
        values = self.raw.get(name)
        return values[0][:_MAX_HEADER_VALUE] if values else ""

    def first(self, name: str) -> str:
        values = self.raw.get(name)
        return decode_header_value(values[0][:_MAX_HEADER_VALUE]) if values else ""

    def all(self, name: str) -> list[str]:
        return [decode_header_value(v[:_MAX_HEADER_VALUE]) for v in self.raw.get(name, [])]

    def has(self, name: str) -> bool:
        return name in self.raw


def _parse(raw: bytes, raw_sha: str, config: EmailConfig, *, account: str,
           received_at: datetime, via: str, skill: str, envelope_from: str,
           recipients: Sequence[str]) -> ParsedMail:
    msg = message_from_bytes(raw, policy=policy.compat32)
    h = _Headers(msg)
    if not h.raw:
        raise ValueError("no headers")
    limits = config.limits
    subject = h.first("subject")[:1000]
    from_name, from_addr = _from(h, envelope_from)
    own_ids = message_ids(h.first("message-id"))
    external_id = _external_id(own_ids, raw)
    refs = _thread_refs(h)
    walk = _Walk(limits)
    walk.visit(msg)
    plain, markup = "\n".join(walk.plain), "\n".join(walk.markup)
    attachments, blobs, dropped = walk.attachments, walk.blobs, walk.dropped
    # Text is read from at most what is kept: the conversions are linear, this bounds the
    # constant (and the rest is flagged "truncated", the raw kept).
    body = (reply_text(plain[:limits.max_text_chars * 2], subject) if plain.strip()
            else html_to_text(markup[:limits.max_html_chars], subject=subject) if markup
            else MailText(""))
    text = body.text
    kind, reason = _classify(msg, h, config, from_addr, envelope_from, subject)
    meta = {"via": via, "raw": f"sha256:{raw_sha}"}
    _put(meta, "to", ", ".join(h.all("to")))
    _put(meta, "cc", ", ".join(h.all("cc")))
    _put(meta, "date", h.first("date"))
    _put(meta, "envelope_from", envelope_from)
    _put(meta, "recipients", ", ".join(recipients))
    _put(meta, "message_id", own_ids[0] if own_ids else "")
    if body.forwarded:
        meta["forwarded"] = "true"
    if (len(text) > limits.max_text_chars or len(plain) > limits.max_text_chars * 2
            or len(markup) > limits.max_html_chars):
        meta["truncated"] = "true"
    if dropped:
        meta["attachments_not_stored"] = "; ".join(dropped)[:_MAX_META]
    if msg.defects or any(p.defects for p in msg.walk()):
        meta["defects"] = ", ".join(sorted({type(d).__name__ for p in msg.walk()
                                            for d in p.defects}))[:_MAX_META]
    message = InboundMessage(
        channel=Channel.EMAIL, account=account, external_id=external_id,
        sender=_sender(from_name, from_addr, account, external_id), received_at=received_at,
        text=text[:limits.max_text_chars], subject=subject,
        html=markup[:limits.max_html_chars], thread_key=own_ids[0] if own_ids else external_id,
        thread_refs=tuple(refs), ticket_ref=ticket_ref(subject), attachments=tuple(attachments),
        kind=kind, kind_reason=reason, payload_id=external_id[:_MAX_EXTERNAL_ID],
        skill_hint=skill, meta=meta, sender_auth=NOT_CHECKED)
    evidence = (sender_evidence(raw, config.sender_auth.max_dkim_signatures)
                if kind is MessageKind.MESSAGE else None)
    return ParsedMail(message, (Blob(raw_sha, raw), *blobs), evidence)


def _put(meta: dict[str, str], key: str, value: str) -> None:
    if value:
        meta[key] = value[:_MAX_META]


def _from(h: _Headers, envelope_from: str) -> tuple[str, str]:
    for header in ("from", "sender", "reply-to", "return-path"):
        # Split the raw value first: a decoded display name may contain "," or "<".
        name, addr = parseaddr(_unfold(h.first_raw(header)))
        if "@" in addr and not _has_surrogates(addr):
            return decode_header_value(name).strip().strip('"')[:200], normalize_address(addr)
    if "@" in envelope_from:
        return "", normalize_address(envelope_from)
    return "", ""


def _sender(name: str, address: str, account: str, external_id: str) -> Sender:
    if address:
        return Sender(identities=(Identity(IdentityKind.EMAIL, address),), name=name)
    # No usable address anywhere: an identity of its own, so it never merges customers.
    return Sender(identities=(Identity(IdentityKind.EXTERNAL,
                                       f"email:{account}:{external_id}"),), name=name)


def _external_id(own_ids: list[str], raw: bytes) -> str:
    if own_ids and len(own_ids[0]) <= _MAX_EXTERNAL_ID:
        return own_ids[0]
    if own_ids:
        return "sha256:" + hashlib.sha256(own_ids[0].encode()).hexdigest()
    return "sha256:" + hashlib.sha256(_without_trace(raw)).hexdigest()


def _without_trace(raw: bytes) -> bytes:
    head, sep, body = raw.replace(b"\r\n", b"\n").partition(b"\n\n")
    kept: list[bytes] = []
    skipping = False
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t"):
            if not skipping:
                kept.append(line)
            continue
        skipping = bool(_TRACE.match(line))
        if not skipping:
            kept.append(line)
    return b"\n".join(kept) + sep + body


def _thread_refs(h: _Headers) -> list[str]:
    refs: list[str] = []
    for header in ("references", "in-reply-to"):
        for value in h.all(header):
            for mid in message_ids(value):
                if mid not in refs:
                    refs.append(mid)
    return refs[-50:]  # a long chain's recent ids are the ones that can match an open ticket


def _is_attachment(part: Message, ctype: str) -> bool:
    disposition = (part.get("content-disposition") or "").split(";", 1)[0].strip().lower()
    if disposition == "attachment":
        return True
    if ctype in ("text/plain", "text/html"):
        return bool(part.get_filename())
    return True


class _Walk:
    """One pass over the MIME tree: the body texts outside attachments, and the attachments.
    An attached message (message/rfc822) is one attachment; its own body is not ours."""

    def __init__(self, limits: MailLimits) -> None:
        self.limits = limits
        self.plain: list[str] = []
        self.markup: list[str] = []
        self.attachments: list[Attachment] = []
        self.blobs: list[Blob] = []
        self.dropped: list[str] = []

    def visit(self, part: Message, related: bool = False, depth: int = 0) -> None:
        ctype = part.get_content_type()
        if ctype in ("message/delivery-status", "message/disposition-notification",
                     "text/rfc822-headers"):
            return
        if ctype.startswith("message/"):
            _attachment(part, related, self)
            return
        if part.is_multipart():
            if depth >= 20:  # hostile nesting: stop descending, raw is kept anyway
                return
            children = part.get_payload()
            for child in children if isinstance(children, list) else ():
                self.visit(child, related or ctype == "multipart/related", depth + 1)
            return
        if _is_attachment(part, ctype):
            _attachment(part, related, self)
            return
        data = part.get_payload(decode=True) or b""
        text = decode_bytes(data, part.get_content_charset())
        (self.markup if ctype == "text/html" else self.plain).append(text)


def _attachment(part: Message, related: bool, walk: _Walk) -> None:
    limits, out, dropped = walk.limits, walk.attachments, walk.dropped
    payload = part.get_payload(decode=True)
    if payload is None:  # a message/rfc822 part keeps its sub-message as a list
        inner = part.get_payload()
        payload = inner[0].as_bytes() if isinstance(inner, list) and inner else b""
    name = decode_header_value(part.get_filename() or "") or _default_name(part)
    disposition = (part.get("content-disposition") or "").split(";", 1)[0].strip().lower()
    inline = disposition == "inline" or (related and bool(part.get("content-id"))
                                         and disposition != "attachment")
    sha = hashlib.sha256(payload).hexdigest()
    ctype = part.get_content_type()
    if len(out) >= limits.max_attachments:
        dropped.append(f"{name}: over the {limits.max_attachments}-attachment limit")
        out_ref = ""
    elif len(payload) > limits.max_attachment_bytes:
        dropped.append(f"{name}: {len(payload)} bytes > {limits.max_attachment_bytes}")
        out_ref = ""
    else:
        walk.blobs.append(Blob(sha, payload))
        out_ref = f"sha256:{sha}"
    if len(out) < 2 * limits.max_attachments:
        out.append(Attachment(name=name[:255], content_type=ctype, size=len(payload),
                              sha256=sha, ref=out_ref, inline=inline))


def _default_name(part: Message) -> str:
    cid = (part.get("content-id") or "").strip("<> ")
    ext = {"message/rfc822": ".eml", "image/png": ".png", "image/jpeg": ".jpg",
           "image/gif": ".gif", "text/calendar": ".ics"}.get(part.get_content_type(), ".bin")
    return f"{cid or 'attachment'}{ext}"


def _classify(msg: Message, h: _Headers, config: EmailConfig, from_addr: str,
              envelope_from: str, subject: str) -> tuple[MessageKind, str]:
    if msg.get_content_type() == "multipart/report":
        report = msg.get_param("report-type") or ""
        report = report.lower() if isinstance(report, str) else ""
        if report == "delivery-status":
            return MessageKind.BOUNCE, "DSN: multipart/report; report-type=delivery-status"
        if report == "disposition-notification":
            return MessageKind.STATUS, "read receipt: multipart/report; disposition-notification"
    if h.has("x-failed-recipients"):
        return MessageKind.BOUNCE, "X-Failed-Recipients header"
    if _DAEMON.match(from_addr) or (envelope_from == "<>" and _BOUNCE_SUBJECT.match(subject)):
        return MessageKind.BOUNCE, f"sent by {from_addr or 'the null sender'}"
    if _BOUNCE_SUBJECT.match(subject) and not from_addr:
        return MessageKind.BOUNCE, "bounce subject without a sender"
    if from_addr and config.is_own(from_addr):
        return MessageKind.OWN, f"from our own address {from_addr}"
    auto = h.first("auto-submitted").lower()
    if auto and not auto.startswith("no"):
        return MessageKind.AUTO_REPLY, f"Auto-Submitted: {auto}"[:200]
    for header in ("x-autoreply", "x-autorespond", "x-autogenerated", "x-auto-reply"):
        if h.has(header):
            return MessageKind.AUTO_REPLY, f"{header} header"
    precedence = (h.first("precedence") or h.first("x-precedence")).lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return MessageKind.AUTO_REPLY, f"Precedence: {precedence}"
    if "oof" in h.first("x-auto-response-suppress").lower() and _AUTO_SUBJECT.match(subject):
        return MessageKind.AUTO_REPLY, "Outlook out-of-office"
    if _AUTO_SUBJECT.match(subject):
        return MessageKind.AUTO_REPLY, f"auto-reply subject: {subject[:80]}"
    return MessageKind.MESSAGE, ""


def _degraded(raw: bytes, raw_sha: str, error: str, *, account: str, received_at: datetime,
              via: str, skill: str, envelope_from: str) -> ParsedMail:
    """What we can say about bytes the parser choked on: the raw text best-effort decoded,
    a subject and sender if a header line names them, and the raw kept for an agent."""
    head, _, body = raw.replace(b"\r\n", b"\n").partition(b"\n\n")
    subject = from_line = ""
    for line in head.split(b"\n"):
        low = line.lower()
        if low.startswith(b"subject:") and not subject:
            subject = decode_header_value(
                line[8:_MAX_HEADER_VALUE].decode("ascii", "surrogateescape"))
        elif low.startswith(b"from:") and not from_line:
            from_line = decode_header_value(
                line[5:_MAX_HEADER_VALUE].decode("ascii", "surrogateescape"))
    addrs = [normalize_address(a) for _, a in getaddresses([from_line]) if "@" in a]
    address = addrs[0] if addrs else (normalize_address(envelope_from)
                                      if "@" in envelope_from else "")
    external_id = "sha256:" + hashlib.sha256(_without_trace(raw)).hexdigest()
    text = decode_bytes((body or raw)[:256 * 1024], None)
    message = InboundMessage(
        channel=Channel.EMAIL, account=account, external_id=external_id,
        sender=_sender("", address, account, external_id), received_at=received_at,
        text=text[:64 * 1024] or "(unreadable message; raw kept)", subject=subject[:1000],
        thread_key=external_id, payload_id=external_id, skill_hint=skill,
        meta={"via": via, "raw": f"sha256:{raw_sha}", "parse_error": error[:_MAX_META]},
        sender_auth=NOT_PARSED)
    return ParsedMail(message, (Blob(raw_sha, raw),))
