"""What the customer wrote now: HTML → plain text, and the quoted earlier messages and
signatures that mail clients append (English and Chinese clients) cut away.

Both functions are conservative: when cutting would leave nothing, the text is kept whole,
because losing the customer's words is worse than showing a quote."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

_BLOCK = frozenset("address article aside blockquote dd div dl dt fieldset figcaption figure "
                   "footer form h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section table "
                   "tbody thead tfoot tr ul".split())
_SKIP = frozenset(("script", "style", "head", "title", "template", "noscript", "svg"))
# Containers that mail clients put the quoted earlier message in: Gmail, Apple Mail/Thunderbird
# (blockquote type=cite), Outlook (divRplyFwdMsg, appendonsend), Yahoo, QQ Mail / Foxmail.
_QUOTE_MARKERS = ("gmail_quote", "gmail_extra", "divrplyfwdmsg", "appendonsend", "yahoo_quoted",
                  "moz-cite-prefix", "ntes-mailmaster-quote", "qqmail_quote", "foxmail_quote",
                  "mail-quote")
_VOID = frozenset("area base br col embed hr img input link meta source track wbr".split())


class _TextExtractor(HTMLParser):
    def __init__(self, drop_quotes: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._skip_depth = 0      # inside script/style/…: >0
        self._quote_stack: list[str] = []
        self._stack_tags: list[str] = []
        self._drop_quotes = drop_quotes
        self._pre = 0
        self.cut = False          # an Outlook "appendonsend"/divRplyFwdMsg: the rest is quote

    def _hidden(self) -> bool:
        return self._skip_depth > 0 or bool(self._quote_stack) or self.cut

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID:
            if tag == "br" and not self._hidden():
                self.out.append("\n")
            elif tag == "hr" and not self._hidden():
                self.out.append("\n")
            elif tag == "img" and not self._hidden():
                alt = dict(attrs).get("alt") or ""
                if alt.strip():
                    self.out.append(f"[{alt.strip()}]")
            return
        self._stack_tags.append(tag)
        if tag in _SKIP:
            self._skip_depth += 1
            return
        if self._drop_quotes and not self._quote_stack:
            a = {k: (v or "") for k, v in attrs}
            marker = f"{a.get('class', '')} {a.get('id', '')}".lower()
            if (tag == "blockquote" and (a.get("type", "").lower() == "cite"
                                         or "quote" in marker)) \
                    or any(m in marker for m in _QUOTE_MARKERS):
                if "divrplyfwdmsg" in marker or "appendonsend" in marker:
                    self.cut = True
                else:
                    self._quote_stack.append(tag)
                    self._stack_tags[-1] = "\x00" + tag  # marks the element that opened it
                return
        if tag == "pre":
            self._pre += 1
        if tag in _BLOCK and not self._hidden():
            self.out.append("\n")
            if tag == "li":
                self.out.append("- ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID:
            return
        # Tolerate unbalanced HTML: close up to the nearest matching open tag.
        for i in range(len(self._stack_tags) - 1, -1, -1):
            if self._stack_tags[i].lstrip("\x00") == tag:
                for closed in reversed(self._stack_tags[i:]):
                    self._close(closed)
                del self._stack_tags[i:]
                break
        if tag in _BLOCK and not self._hidden():
            self.out.append("\n")

    def _close(self, tag: str) -> None:
        if tag.startswith("\x00"):
            self._quote_stack.pop()
        elif tag in _SKIP:
            self._skip_depth -= 1
        elif tag == "pre":
            self._pre -= 1

    def handle_data(self, data: str) -> None:
        if self._hidden():
            return
        if not self._pre:
            data = re.sub(r"[ \t\r\n\f]+", " ", data)
        self.out.append(data)


def html_to_text(markup: str, *, drop_quotes: bool = True) -> str:
    """Readable text of an HTML mail body; with drop_quotes the quoted earlier messages that
    clients wrap in known containers are left out."""
    parser = _TextExtractor(drop_quotes)
    try:
        parser.feed(markup)
        parser.close()
    except AssertionError:  # html.parser gives up on some hostile markup; keep what it read
        pass
    text = "".join(parser.out).replace("\xa0", " ")
    text = html.unescape(text) if "&" in text else text
    if drop_quotes and not text.strip():
        return html_to_text(markup, drop_quotes=False)
    return _tidy(text)


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
    r"-{2,}\s*(?:Original Message|Forwarded message|Reply message|Original|原始邮件|原始郵件|"
    r"转发邮件|轉寄郵件|回复的原邮件|邮件原文)\s*-{2,}"
    r"|_{10,}"                                                     # Outlook web / mobile
    r"|Begin forwarded message:"
    r")\s*$",
    re.IGNORECASE)
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


def strip_reply(text: str) -> str:
    """The new part of a plain-text mail: up to the first quoted-message marker, without the
    signature and the trailing "> " quoted lines."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    cut = _quote_start(lines)
    new = lines[:cut]
    new = _drop_signature(new)
    # Interleaved "> " quotes inside the new part are quoted context, not the customer's words.
    new = [line for line in new if not line.lstrip().startswith(">")]
    result = _tidy("\n".join(new))
    return result if result else _tidy(text)


def _quote_start(lines: list[str]) -> int:
    for i, raw in enumerate(lines):
        line = raw.strip()
        if not line:
            continue
        if _SEPARATOR.match(line):
            return i
        if _is_attribution(lines, i):
            return i
        if _HEADER_FROM.match(line):
            following = [s.strip() for s in lines[i + 1:i + 6] if s.strip()]
            if sum(1 for s in following[:4] if _HEADER_NEXT.match(s)) >= 2:
                return i
        if line.startswith(">") and all(not s.strip() or s.lstrip().startswith(">")
                                        for s in lines[i:]):
            return i
    return len(lines)


def _is_attribution(lines: list[str], i: int) -> bool:
    """An "On … wrote:" line, or one that a client wrapped over up to three lines: wrapped
    parts are short and never end a sentence (which tells them from the customer's text)."""
    for span in (1, 2, 3):
        part = [s.strip() for s in lines[i:i + span]]
        if len(part) < span or not all(part):
            return False
        if span > 1 and _SENTENCE_END.search(part[-2]):
            return False
        if _ATTRIBUTION.match(" ".join(part)):
            return True
    return False


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
