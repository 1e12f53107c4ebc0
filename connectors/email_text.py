"""What the customer wrote now: HTML → plain text, and the quoted earlier messages and
signatures that mail clients append (English and Chinese clients) cut away; a forwarded
message is kept and flagged.

Both functions are conservative: when cutting would leave nothing, the text is kept whole,
because losing the customer's words is worse than showing a quote. Both are linear in the
length of their input."""

from __future__ import annotations

import re

import lxml.etree
import msgspec

_BLOCK = frozenset("address article aside blockquote dd div dl dt fieldset figcaption figure "
                   "footer form h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section table "
                   "tbody thead tfoot tr ul".split())
_SKIP = frozenset(("script", "style", "head", "title", "template", "noscript", "svg"))
# Containers that mail clients put the quoted earlier message (or its attribution, or a
# forwarded message) in: Gmail (gmail_attr; its div.gmail_quote is not one, since inline
# answers are written inside it between blockquotes), Apple Mail/Thunderbird (blockquote
# type=cite), Outlook (divRplyFwdMsg, appendonsend), Yahoo, QQ Mail / Foxmail, NetEase.
_QUOTE_MARKERS = ("gmail_attr", "gmail_extra", "divrplyfwdmsg", "appendonsend", "yahoo_quoted",
                  "moz-cite-prefix", "moz-forward-container", "ntes-mailmaster-quote",
                  "qqmail_quote", "foxmail_quote", "mail-quote")
_VOID = frozenset("area base br col embed hr img input link meta source track wbr".split())


# Private-use characters that the extractor puts around a quote container (and before the rest
# of the document after an Outlook reply header), so that one linear pass over the text can
# tell a forwarded message (kept) from a quoted reply (dropped).
_Q_OPEN, _Q_CLOSE, _Q_REST = "\ue000", "\ue001", "\ue002"
_MARKS = re.compile(f"[{_Q_OPEN}{_Q_CLOSE}{_Q_REST}]")


class _TextExtractor:
    """Target of lxml's HTML parser: the parser calls start/end/data in document order and
    builds no tree, so nesting depth costs nothing (a tree stops at 256 levels and loses the
    rest of the document) and libxml2's tokenizer stays linear on markup that makes
    html.parser quadratic (docs/email.md has the measurements)."""

    def __init__(self) -> None:
        self.out: list[str] = []
        self._skip_depth = 0      # inside script/style/…: >0
        self._stack_tags: list[str] = []
        self._pre = 0
        self._quotes = 0          # open quote containers
        self._rest = False        # an Outlook "appendonsend"/divRplyFwdMsg was seen

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        if tag in _VOID:
            if self._skip_depth:
                return
            if tag in ("br", "hr"):
                self.out.append("\n")
            elif tag == "img":
                alt = (attrs.get("alt") or "").strip()
                if alt:
                    self.out.append(f"[{alt}]")
            return
        self._stack_tags.append(tag)
        if tag in _SKIP:
            self._skip_depth += 1
            return
        if not self._quotes and not self._rest:
            marker = f"{attrs.get('class', '')} {attrs.get('id', '')}".lower()
            if (tag == "blockquote" and (attrs.get("type", "").lower() == "cite"
                                         or "quote" in marker)) \
                    or any(m in marker for m in _QUOTE_MARKERS):
                if "divrplyfwdmsg" in marker or "appendonsend" in marker:
                    self._rest = True
                    self.out.append(f"\n{_Q_REST}\n")
                else:
                    self._quotes += 1
                    self._stack_tags[-1] = "\x00" + tag  # marks the element that opened it
                    self.out.append(f"\n{_Q_OPEN}\n")
                return
        if tag == "pre":
            self._pre += 1
        if tag in _BLOCK and not self._skip_depth:
            self.out.append("\n- " if tag == "li" else "\n")

    def end(self, tag: str) -> None:
        if tag in _VOID:
            return
        # libxml2 balances what it reports; still, close up to the nearest matching open tag,
        # looking only a few levels down so that hostile nesting cannot make this quadratic.
        stack = self._stack_tags
        for i in range(len(stack) - 1, max(len(stack) - 16, 0) - 1, -1):
            if stack[i].lstrip("\x00") == tag:
                for closed in reversed(stack[i:]):
                    self._close(closed)
                del stack[i:]
                break
        if tag in _BLOCK and not self._skip_depth:
            self.out.append("\n")

    def _close(self, tag: str) -> None:
        if tag.startswith("\x00"):
            self._quotes -= 1
            self.out.append(f"\n{_Q_CLOSE}\n")
        elif tag in _SKIP:
            self._skip_depth -= 1
        elif tag == "pre":
            self._pre -= 1

    def data(self, data: str) -> None:
        if self._skip_depth:
            return
        if not self._pre:
            data = _WS.sub(" ", data)
        self.out.append(_MARKS.sub("", data))

    def close(self) -> str:
        return "".join(self.out)


_WS = re.compile(r"[ \t\r\n\f]+")


class MailText(msgspec.Struct, frozen=True):
    """What the customer wrote now, and whether it carries a forwarded message (kept as text:
    it is evidence the customer brings, not history we hold)."""

    text: str
    forwarded: bool = False


def html_to_text(markup: str, *, subject: str = "") -> MailText:
    """Readable text of an HTML mail body without the quoted earlier messages that clients wrap
    in known containers; a container that holds a forwarded message is kept. Time is linear in
    the length of the markup, whatever the markup (the caller bounds the length)."""
    target = _TextExtractor()
    # UTF-8 bytes with the encoding given: a <meta charset> inside the (already decoded)
    # markup must not make libxml2 decode it again.
    parser = lxml.etree.HTMLParser(target=target, encoding="utf-8", no_network=True)
    try:
        parser.feed(markup.encode("utf-8", "replace"))
        parser.close()
    except lxml.etree.LxmlError:  # e.g. an empty document; keep whatever was read
        pass
    lines = "".join(target.out).replace("\xa0", " ").split("\n")
    kept: list[str] = []
    forwarded = False
    depth, keep_quote, rest = 0, False, False
    for i, line in enumerate(lines):
        if line == _Q_CLOSE:
            depth = max(depth - 1, 0)
        elif line == _Q_OPEN and depth:
            depth += 1
        elif line in (_Q_OPEN, _Q_REST):  # a quote container starts at the top level
            depth += line == _Q_OPEN
            rest = rest or line == _Q_REST
            keep_quote = _forward_start(lines, i + 1, subject)
            forwarded = forwarded or keep_quote
            if not keep_quote:
                _drop_attribution(kept)  # "On … wrote:" written outside its container
        elif (depth == 0 and not rest) or keep_quote:
            kept.append(line)
    text = _tidy("\n".join(kept))
    if not text:  # everything looked quoted: the customer's words are in there somewhere
        return MailText(_tidy(_MARKS.sub("", "\n".join(lines))))
    return MailText(text, forwarded)


def _drop_attribution(kept: list[str]) -> None:
    while kept and not kept[-1].strip():
        kept.pop()
    for span in (1, 2, 3):
        if len(kept) >= span and _attribution_span(kept, len(kept) - span) == span:
            del kept[-span:]
            return


def _forward_start(lines: list[str], i: int, subject: str) -> bool:
    """Whether the quote container opening at line i holds a forwarded message: its first
    line is a forward marker, or (Outlook, QQ Mail) the mail's subject says forward and the
    container starts with a separator or a From:/Sent: header block."""
    first: list[str] = []
    for line in lines[i:i + 200]:  # a bounded look past the blank lines of block elements
        if line.strip() and not _MARKS.fullmatch(line.strip()):
            first.append(line.strip())
            if len(first) == 6:
                break
    if not first:
        return False
    if _FORWARD.match(first[0]):
        return True
    if not _FORWARD_SUBJECT.match(subject):
        return False
    return bool(_SEPARATOR.match(first[0])) or _header_block(first, 0)


def _tidy(text: str) -> str:
    lines = [line.strip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()


# A line that starts the quoted earlier message. Each pattern is matched against one line
# (or, for the "On … wrote:" attribution that Gmail wraps, two or three joined lines).
_ATTRIBUTION = re.compile(
    r"^(?:"
    r"On\s.{1,200}?\swrote:"                                       # Gmail/Apple/Thunderbird
    r"|Le\s.{1,200}?\sa\s[ée]crit\s?:"
    r"|Am\s.{1,200}?\sschrieb\s.{0,80}:"
    r"|在\s?.{1,200}?写道\s?[:：]"                                   # Gmail/Apple/163 zh
    r"|.{1,200}?于\s?\d{4}.{1,80}?写道\s?[:：]"                      # Gmail zh-CN
    r"|.{0,80}\d{4}[-/年].{1,120}?(?:写道|寫道)\s?[:：]"              # Netease / zh-TW
    r")\s*$",
    re.IGNORECASE)
_SEPARATOR = re.compile(
    r"^(?:"
    r"-{2,}\s*(?:Original Message|Reply message|Original|原始邮件|原始郵件|回复的原邮件|邮件原文)"
    r"\s*-{2,}"
    r"|_{10,}"                                                     # Outlook web / mobile
    r")\s*$",
    re.IGNORECASE)
# A forwarded message starts here: Gmail (en, zh), Thunderbird, Yahoo, Apple Mail (en, zh),
# NetEase / Foxmail ("转发邮件信息"). Outlook and QQ Mail forward with their reply separator, so
# for them the subject tells (_FORWARD_SUBJECT).
_FORWARD = re.compile(
    r"^(?:"
    r"-{2,}\s*(?:Forwarded message|Forwarded mail|转发的邮件|轉寄的郵件|转发邮件信息|轉寄郵件信息|"
    r"转发邮件|轉寄郵件|原始转发邮件)\s*-{2,}"
    r"|Begin forwarded message:"
    r"|(?:以下(?:为|是))?转发的邮件\s*[:：]|(?:以下(?:為|是))?轉寄的郵件\s*[:：]"
    r")\s*$",
    re.IGNORECASE)
_FORWARD_SUBJECT = re.compile(r"^\s*(?:fwd?|转发|轉寄|轉發|转寄)\s*[:：]", re.IGNORECASE)
# Cheap test before the attribution pattern, whose bounded repetitions still cost thousands of
# steps on a crafted line.
_ATTRIBUTION_WORD = re.compile(r"wrote:|写道|寫道|crit\s?:|schrieb", re.IGNORECASE)
# Outlook / Foxmail / QQ Mail header block: "From:" then "Sent:"/"Date:" within a few lines.
_HEADER_FROM = re.compile(r"^\*?(?:From|发件人|寄件者|發件人)\s*\*?\s*[:：]", re.IGNORECASE)
_HEADER_NEXT = re.compile(r"^\*?(?:Sent|Date|To|Subject|Cc|发送时间|日期|时间|收件人|主题|抄送|"
                          r"寄件日期|傳送時間|收件者|主旨)\s*\*?\s*[:：]", re.IGNORECASE)
_SIG_DASHES = re.compile(r"^--\s?$|^—{2,}\s*$")
_MOBILE = re.compile(
    r"^(?:Sent from (?:my )?\S.{0,40}|Get Outlook for \S.{0,30}|Sent with .{1,40}|"
    r"发自我的.{1,30}|来自我的.{1,30}|从我的.{1,30}发送|發自我的.{1,30}|"
    r"(?:来自|发自)(?:网易|QQ|腾讯|阿里|企业微信|钉钉|飞书|华为|小米).{0,30})\s*$",
    re.IGNORECASE)
_VALEDICTION = re.compile(
    r"^(?:best(?: regards| wishes)?|kind regards|warm regards|regards|many thanks|thanks|"
    r"thank you|cheers|sincerely|yours(?: sincerely| truly)?|br|"
    r"此致|敬礼|此致敬礼|祝好|顺祝(?:商祺|商琪|安好)?|谢谢|多谢|感谢|祝商祺|顺颂商祺|"
    r"best,|thx)[\s,.!，。！]*$",
    re.IGNORECASE)
_SIG_MAX_LINES = 6
_SENTENCE_END = re.compile(r"[.!?。！？]\s*$")


def reply_text(text: str, subject: str = "") -> MailText:
    """The customer's part of a plain-text mail. Quoted lines ("> …") and their attribution
    ("On … wrote:", "在 … 写道：") are dropped wherever they are, so answers written between the
    quoted lines stay; an Outlook-style quote (a separator or a From:/Sent: block, no "> ")
    ends the new part; a forwarded message is kept whole after the customer's note, and
    flagged. The signature is cut from the customer's part."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    own, cut, forward = _customer_lines(lines, subject)
    note = _tidy("\n".join(_drop_signature(own)))
    if forward:
        rest = _tidy("\n".join(lines[cut:]))
        return MailText(f"{note}\n\n{rest}" if note else rest, forwarded=True)
    return MailText(note or _tidy(text))


def _customer_lines(lines: list[str], subject: str) -> tuple[list[str], int, bool]:
    """The customer's lines before the end of the new part, the index where it ends, and
    whether what follows is a forwarded message."""
    own: list[str] = []
    i, n = 0, len(lines)
    forward_subject = bool(_FORWARD_SUBJECT.match(subject))
    while i < n:
        line = lines[i].strip()
        if not line:
            own.append("")
            i += 1
            continue
        if line.startswith(">"):
            i += 1
            continue
        if _FORWARD.match(line):
            return own, i, True
        if _SEPARATOR.match(line) or _header_block(lines, i):
            return own, i, forward_subject
        span = _attribution_span(lines, i)
        if span:
            j = i + span
            while j < n and not lines[j].strip():
                j += 1
            if j < n and lines[j].lstrip().startswith(">"):
                i += span  # the quote is marked line by line: keep what is written between
                continue
            return own, i, False  # a client that quotes without "> ": the rest is the quote
        own.append(lines[i])
        i += 1
    return own, n, False


def _header_block(lines: list[str], i: int) -> bool:
    """Outlook / Foxmail / QQ Mail header block: "From:" then "Sent:"/"Date:" within a few
    lines."""
    if not _HEADER_FROM.match(lines[i].strip()):
        return False
    following = [s.strip() for s in lines[i + 1:i + 6] if s.strip()]
    return sum(1 for s in following[:4] if _HEADER_NEXT.match(s)) >= 2


def _attribution_span(lines: list[str], i: int) -> int:
    """How many lines (1-3) an "On … wrote:" attribution at line i takes, 0 if none: clients
    wrap it; wrapped parts are short and never end a sentence (which tells them from the
    customer's text)."""
    for span in (1, 2, 3):
        part = [s.strip() for s in lines[i:i + span]]
        if len(part) < span or not all(part):
            return 0
        if span > 1 and _SENTENCE_END.search(part[-2]):
            return 0
        joined = " ".join(part)
        if _ATTRIBUTION_WORD.search(joined) and _ATTRIBUTION.match(joined):
            return span
    return 0


def _drop_signature(lines: list[str]) -> list[str]:
    for i in range(len(lines) - 1, -1, -1):
        if _SIG_DASHES.match(lines[i].strip()):
            lines = lines[:i]
            break
    kept = [line for line in lines if not _MOBILE.match(line.strip())]
    content = [i for i, line in enumerate(kept) if line.strip()]
    # A closing salutation followed by a few short lines (name, title, phone) is a signature.
    for i in content[::-1][:_SIG_MAX_LINES + 1]:
        if _VALEDICTION.match(kept[i].strip()):
            tail = [s for s in kept[i + 1:] if s.strip()]
            if len(tail) <= _SIG_MAX_LINES and all(len(s.strip()) <= 60 for s in tail):
                if any(s.strip() for s in kept[:i]):
                    return kept[:i]
            break
    return kept
