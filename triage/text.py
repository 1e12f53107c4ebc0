"""Text clean-up before triage: quoted replies and signatures cut, whitespace normalized,
length bounded. Pure functions, no model state; used by the spaCy pipelines and by training so
that a model sees exactly what it will see in production.

Messages arrive as text: the mail connector has already turned HTML into text and cut the
quotes its clients add (connectors/email_text.py, the one HTML-to-text of Deskgate). The cheap
line filter here is for text that never went through it (imported history, other channels).
Every step is linear and reads a bounded prefix, so hostile text costs little."""

from __future__ import annotations

import re
import unicodedata

# Triage needs the customer's words, not a 2 MB email thread: the first part is what matters and
# the bound keeps the per-message cost predictable.
MAX_CHARS = 4000

# Lines that start the quoted part of a reply in the mail clients our customers use.
_QUOTE_HEADER = re.compile(
    r"^\s*(?:On\b.{0,200}\bwrote:\s*$|-{2,}\s*Original Message\s*-{2,}|_{5,}\s*$"
    r"|From:\s.+|发件人[:：].*|-{2,}\s*原始邮件\s*-{2,}|在\s?.{0,120}写道[:：]\s*$)",
    re.I,
)
# A signature starts at "-- " (RFC 3676) or a mobile-client footer.
_SIGNATURE = re.compile(
    r"^(?:--\s*$|Sent from my \w+|Get Outlook for \w+|发自我的\w+|从我的\w+发送)", re.I
)
_SPACES = re.compile(r"[ \t\u00a0\u3000]+")
_BLANK_LINES = re.compile(r"\n{3,}")
# "!!!!!!!!" says no more than "!!!", and spaCy's affix splitting is quadratic in long runs of
# symbols and in long unbroken tokens ("?!" x 2000 took 1.4 s to tokenize).
_SYMBOL_RUN = re.compile(r"[^\w\s]{4,}")
_LONG_TOKEN = re.compile(r"[^\s\u3400-\u9fff]{80,}")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def strip_quoted(text: str) -> str:
    """Drop quoted replies (`> …`, "On … wrote:", 发件人:) and the signature block."""
    kept: list[str] = []
    for line in text.split("\n"):
        if _QUOTE_HEADER.match(line) or _SIGNATURE.match(line):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line)
    return "\n".join(kept)


def clean(text: str, subject: str = "") -> str:
    """The text triage looks at: subject + body, NFKC-normalized (full-width ASCII such as
    ＳＦ１２３ becomes SF123 so that one entity pattern serves both), quotes and signature cut,
    whitespace collapsed, at most MAX_CHARS characters."""
    # Quoted lines are dropped, so more than MAX_CHARS may be needed to find MAX_CHARS of the
    # customer's words; beyond a few times that, the rest does not change a classification.
    body = strip_quoted(text[: MAX_CHARS * 8].replace("\r\n", "\n").replace("\r", "\n"))
    joined = f"{subject.strip()}\n{body}" if subject.strip() else body
    joined = unicodedata.normalize("NFKC", joined[: MAX_CHARS * 2])
    # A lone surrogate (broken UTF-16 from a provider) cannot be encoded; make it visible.
    joined = joined.encode("utf-8", "replace").decode("utf-8")
    joined = _SYMBOL_RUN.sub(lambda m: m.group()[:3], joined)
    joined = _LONG_TOKEN.sub(lambda m: " ".join(re.findall(".{1,80}", m.group(), re.S)), joined)
    joined = _SPACES.sub(" ", joined)
    joined = _BLANK_LINES.sub("\n\n", joined).strip()
    return joined[:MAX_CHARS]


def han_ratio(text: str) -> float:
    """Share of Han characters among the non-space characters."""
    chars = len(text) - sum(text.count(c) for c in " \n\t")
    return len(_HAN.findall(text)) / chars if chars > 0 else 0.0


def has_han(text: str) -> bool:
    return _HAN.search(text) is not None
