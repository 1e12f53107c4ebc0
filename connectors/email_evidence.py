"""The part of the sender check that reads a mail's body, done where the mail is parsed (a parse
process), so that the gateway process's sender check reads the header block alone.

Profiled under hostile mail (docs/email.md, "Hostile mail"): dkimpy splits the whole message
into lines to find its headers (`rfc822_parse`), and hashes the canonical body for every
signature; on the verifier's threads that held the GIL ~15 ms per mail against the event
loop. Here the body is hashed once per distinct (canonicalization, algorithm, length) of the
mail's signatures, and only when it has one; the verifier gets a verdict per signature.

Imports dkimpy and msgspec only: a spawned parse process loads no more than it needs."""

from __future__ import annotations

import base64
import re

import msgspec
from dkim import HASH_ALGORITHMS, rfc822_parse
from dkim.canonicalization import CanonicalizationPolicy
from dkim.util import parse_tag_value


class SenderEvidence(msgspec.Struct, frozen=True):
    """What the sender check needs from the bytes beyond the header block.

    `head_end`: the header block is raw[:head_end] (through the line ending of its last line).
    `dkim_body`: per DKIM-Signature field in header order (at most the configured number of
    signatures), whether its bh= matches the body as the signature says to read it. A
    signature the evidence does not cover never verifies."""

    head_end: int
    dkim_body: tuple[bool, ...] = ()


def header_end(raw: bytes) -> int:
    """Offset of the line break that ends the header block (len(raw) when there is no body):
    the first empty line, with LF or CRLF line endings, as dkimpy and the parse budget read
    it."""
    return min((i for i in (raw.find(b"\n\n"), raw.find(b"\n\r\n")) if i >= 0),
               default=len(raw))


def sender_evidence(raw: bytes, max_signatures: int) -> SenderEvidence:
    """Never raises: a signature that cannot be read gets False (dkimpy, reading the same
    header block in the check, reports it as malformed)."""
    end = min(header_end(raw) + 1, len(raw))
    if b"dkim-signature" not in raw[:end].lower():
        return SenderEvidence(end)
    try:
        headers, _ = rfc822_parse(raw[:end])
    except Exception:  # unreadable headers: the check finds them unreadable too
        return SenderEvidence(end)
    signatures = [v for name, v in headers if name.lower() == b"dkim-signature"]
    body = _body(raw, end)
    hashes: dict[tuple[bytes, bytes, bytes], bytes] = {}
    return SenderEvidence(end, tuple(_body_matches(sig, body, hashes)
                                     for sig in signatures[:max_signatures]))


def _body(raw: bytes, end: int) -> bytes:
    """The body as dkimpy sees it: after the empty line, lines joined with CRLF."""
    rest = raw[end:]
    blank = 2 if rest.startswith(b"\r\n") else 1 if rest.startswith(b"\n") else 0
    rest = rest[blank:]
    if rest.count(b"\n") == rest.count(b"\r\n"):   # CRLF throughout, as SMTP delivers it
        return rest
    return b"\r\n".join(re.split(b"\r?\n", rest))


def _body_matches(field: bytes, body: bytes,
                  hashes: dict[tuple[bytes, bytes, bytes], bytes]) -> bool:
    try:
        sig = parse_tag_value(field)
        canon, algorithm = sig.get(b"c", b"simple/simple"), sig[b"a"]
        length = sig.get(b"l", b"")
        key = (canon, algorithm, length)
        if key not in hashes:
            text = CanonicalizationPolicy.from_c_value(canon).canonicalize_body(body)
            if length:
                text = text[:int(length)]
            hashes[key] = HASH_ALGORITHMS[algorithm](text).digest()
        return hashes[key] == base64.b64decode(re.sub(rb"\s+", b"", sig[b"bh"]))
    except Exception:  # missing or malformed tags: no evidence for this signature
        return False
