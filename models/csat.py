"""Customer satisfaction surveys: the signed link and the answer, as pure rules.

A resolved ticket gets one survey link (models/links.py, signed with the deployment's CSAT
secret), so nobody can rate a ticket whose link they were not given, and a link stops working
when it expires. No login."""

from __future__ import annotations

import re

import msgspec

from deskgate.models import links
from deskgate.models.errors import Invalid

LINK_DAYS = 14
MAX_COMMENT = 1000
PURPOSE = "csat"


def sign(ticket_id: str, expires: int, secret: bytes) -> str:
    return links.sign(PURPOSE, ticket_id, expires, secret)


def verify(token: str, secret: bytes, now: float) -> str:
    """The ticket id of a genuine, unexpired survey link; Forbidden otherwise."""
    return links.verify(PURPOSE, token, secret, now)


class Answer(msgspec.Struct, frozen=True):
    score: int
    comment: str = ""


def answer(score: str, comment: str) -> Answer:
    """A form's fields as an Answer: a score of 1-5 and at most MAX_COMMENT characters."""
    if score not in ("1", "2", "3", "4", "5"):
        raise Invalid("choose a score from 1 to 5", field="score")
    text = comment.strip()
    if len(text) > MAX_COMMENT:
        raise Invalid(f"the comment is limited to {MAX_COMMENT} characters", field="comment")
    return Answer(int(score), text)


# --- the survey sent over the customer's channel ---------------------------------------------

# Channels where the customer answers in the same conversation, so a bare score typed back is
# an answer; email (quoted text, signatures), web forms, the API and voicemail are not.
INLINE_CHANNELS = frozenset({"sms", "whatsapp", "telegram", "webchat", "messenger", "instagram",
                             "line", "wechat", "wecom"})
OPT_OUT = "stop"

SURVEY_TEXT = {
    "en": {"ask": "How did we do with your request {ticket}?",
           "link": "Rate us here (1-5, with a comment if you like): {url}",
           "inline": "Or just reply with a number from 1 (very unsatisfied) to 5 (very "
                     "satisfied). Reply STOP and we will not ask again.",
           "subject": "How did we do? ({ticket})"},
    "zh": {"ask": "您对我们处理工单 {ticket} 的服务满意吗？",
           "link": "请点击评价（1-5 分，可附留言）：{url}",
           "inline": "也可以直接回复数字 1（非常不满意）到 5（非常满意）。回复“退订”将不再收到调查。",
           "subject": "服务满意度调查（{ticket}）"},
}

# What a bare answer may look like: ASCII and full-width digits, circled digits, Chinese
# numerals (with an optional 分 / 星), or one to five stars. Anything longer is a message.
_SCORES = {**{str(n): n for n in range(1, 6)}, **{chr(0xFF10 + n): n for n in range(1, 6)},
           **{chr(0x245F + n): n for n in range(1, 6)},
           **dict(zip("一二三四五", range(1, 6), strict=True))}
_STARS = re.compile(r"^(?:[⭐★☆🌟]\ufe0f?){1,5}$")
_STOP = frozenset({"stop", "unsubscribe", "退订", "td", "取消订阅", "不要再发"})
_TRIM = " \t\r\n。.!！~～"


def survey_language(language: str) -> str:
    return "zh" if language.startswith("zh") else "en"


def survey_text(language: str, ticket_id: str, url: str, *, inline: bool) -> str:
    """The survey message: the question, the link (when there is a public URL) and, where the
    customer can answer in the conversation, how to answer there and how to opt out."""
    t = SURVEY_TEXT[survey_language(language)]
    lines = [t["ask"].format(ticket=ticket_id)]
    if url:
        lines.append(t["link"].format(url=url))
    if inline:
        lines.append(t["inline"])
    return "\n".join(lines)


def survey_subject(language: str, ticket_id: str) -> str:
    return SURVEY_TEXT[survey_language(language)]["subject"].format(ticket=ticket_id)


def inline_answer(text: str) -> int | str | None:
    """A customer's message read as an answer to the survey: the score 1-5, OPT_OUT, or None
    when it is anything else (a real message, which reopens the ticket as usual)."""
    s = text.strip(_TRIM)
    if len(s) > 16:
        return None
    if s.lower() in _STOP:
        return OPT_OUT
    s = s.removesuffix("分").removesuffix("星").strip()
    if s in _SCORES:
        return _SCORES[s]
    stars = s.count("⭐") + s.count("★") + s.count("🌟") if _STARS.match(s) else 0
    return stars or None                     # "☆☆☆" (empty stars only) is no score


class SurveyConfig(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """`csat:` in the config: the survey sent over the customer's channel after a person
    resolves a ticket (the signed link is made either way and returned to the resolver)."""

    enabled: bool = True
    delay_minutes: float = 0.0             # after resolution
    inline_window_hours: float = 72.0      # a bare "1".."5" typed back within this is an answer
    # "<channel>/<account>" -> on/off, overriding `enabled` for that account
    accounts: dict[str, bool] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0 <= self.delay_minutes <= 30 * 24 * 60:
            raise ValueError("csat.delay_minutes must be 0-43200 (30 days)")
        if not 0 <= self.inline_window_hours <= LINK_DAYS * 24:
            raise ValueError(f"csat.inline_window_hours must be 0-{LINK_DAYS * 24} (the "
                             "link's life)")
        for name in self.accounts:
            if "/" not in name:
                raise ValueError(f"csat.accounts: {name!r} must be <channel>/<account>")

    def sends_on(self, channel: str, account: str) -> bool:
        return self.accounts.get(f"{channel}/{account}", self.enabled)
