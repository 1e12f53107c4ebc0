"""Hostile mail shapes, shared by tests/email and bench/hostile_mail.py: each is small and
cheap to send, and each once held the event loop (or a thread) for seconds to forever."""

from __future__ import annotations

import base64
from collections.abc import Callable


def _mail(subject: str, body: bytes, ctype: str = "text/plain; charset=utf-8",
          headers: bytes = b"") -> bytes:
    return (b"From: Mallory <mallory@example.net>\r\nTo: support@example.com\r\n"
            b"Subject: " + subject.encode() + b"\r\nMIME-Version: 1.0\r\n" + headers
            + b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body + b"\r\n")


def _html(subject: str, markup: str) -> bytes:
    # base64 in 76-character lines, as clients send HTML: the markup is the attack, not lines
    data = base64.b64encode(markup.encode())
    folded = b"\r\n".join(data[i:i + 76] for i in range(0, len(data), 76))
    return _mail(subject, folded, "text/html; charset=utf-8",
                 b"Content-Transfer-Encoding: base64\r\n")


def nested_multiparts(levels: int, lines: int) -> bytes:
    """`levels` nested multipart/mixed with a text part of `lines` short lines at the bottom."""
    body: list[bytes] = []
    for d in range(levels):
        if d:
            body += [b'Content-Type: multipart/mixed; boundary="b%d"' % d, b""]
        body.append(b"--b%d" % d)
    body += [b"Content-Type: text/plain", b""] + [b"ab"] * lines
    body += [b"--b%d--" % d for d in reversed(range(levels))]
    return _mail("nested multiparts", b"\r\n".join(body), 'multipart/mixed; boundary="b0"')


def _many_parts(parts: int) -> bytes:
    body = b"".join(b"--p\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(parts))
    return _mail("many parts", body + b"--p--", 'multipart/mixed; boundary="p"')


def _header_flood(fields: int) -> bytes:
    return _mail("header flood", b"hello", headers=b"X-Flood: a\r\n" * fields)


def _encoded_words(words: int) -> bytes:
    subject = "\r\n ".join(["=?utf-8?q?a?="] * words)
    return _mail(subject, b"hello")


SHAPES: dict[str, Callable[[], bytes]] = {
    # html.parser: 12 KB took 2.7 s, 240 KB did not finish in 11 minutes
    "html '<a ' x 80k": lambda: _html("a", "<a " * 80_000),
    "html '<!--' x 60k": lambda: _html("comments", "<!--" * 60_000),
    "html '<![CDATA[' x 25k": lambda: _html("cdata", "<![CDATA[" * 25_000),
    "html '</' x 100k": lambda: _html("end tags", "</" * 100_000),
    "html 40k nested <div>": lambda: _html("divs", "<div>" * 40_000 + "deep text"),
    "html '&#' x 100k": lambda: _html("entities", "&#" * 100_000),
    # the stdlib MIME parser tests each line against every open boundary: 14 s
    "950 nested multiparts, 65k lines": lambda: nested_multiparts(950, 65_000),
    "700k empty lines": lambda: _mail("lines", b"\r\n" * 700_000),
    "6000 parts": lambda: _many_parts(6_000),
    "20k header fields": lambda: _header_flood(20_000),
    "subject of 10k encoded words": lambda: _encoded_words(10_000),
    # reply stripping once tested every quoted line against all the lines after it
    "20k quoted lines then an answer": lambda: _mail("quotes", b"> q\r\n" * 20_000 + b"answer"),
}
# Not over SMTP (aiosmtpd refuses lines over 1,000 bytes with 500), but IMAP delivers it.
LONG_LINE = _mail("line", b"x" * 2_000_000)
