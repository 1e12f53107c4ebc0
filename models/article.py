"""Knowledge-base articles: a Markdown body in Chinese or English with a title, tags, a topic,
a status (only published articles reach agents' suggestions and the web-chat FAQ) and an
audience (only `public` ones reach the FAQ, which anyone can read; the default is `agents`,
so an article whose author forgot the flag stays internal).
Pure values and their bounds; storage is queue/articles.py."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

import msgspec

ARTICLE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,79}$")
MAX_BODY = 64 * 1024          # characters of Markdown: a long how-to, not a manual
MAX_TITLE = 200
MAX_TAGS = 20


class ArticleStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"


class Audience(StrEnum):
    """Who may read a published article: `public` (the web-chat FAQ's visitors and agents)
    or `agents` (internal procedures, limits: agents, managers and admins only)."""

    PUBLIC = "public"
    AGENTS = "agents"


class Locale(StrEnum):
    ZH = "zh"
    EN = "en"


_Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=40, pattern=r"^[^\s,<>]+$")]


class ArticleIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What an admin writes (PUT body, an imported file or CSV row)."""

    title: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TITLE)]
    body: Annotated[str, msgspec.Meta(max_length=MAX_BODY)] = ""
    locale: Locale = Locale.ZH
    status: ArticleStatus = ArticleStatus.DRAFT
    audience: Audience = Audience.AGENTS
    topic: Annotated[str, msgspec.Meta(max_length=64, pattern=r"^[\w.:-]*$")] = ""
    tags: Annotated[tuple[_Tag, ...], msgspec.Meta(max_length=MAX_TAGS)] = ()

    def __post_init__(self) -> None:
        if not self.title.strip():
            raise ValueError("an article needs a title")


class Article(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    title: str
    body: str
    locale: Locale
    status: ArticleStatus
    # articles stored before the flag existed read as internal: none is made public unasked
    audience: Audience = Audience.AGENTS
    topic: str = ""
    tags: tuple[str, ...] = ()
    updated_at: float = 0.0
    updated_by: str = ""

    @property
    def published(self) -> bool:
        return self.status is ArticleStatus.PUBLISHED

    @property
    def public(self) -> bool:
        """Published for everyone: the only articles the web-chat FAQ may show."""
        return self.published and self.audience is Audience.PUBLIC

    def search_text(self) -> str:
        """What the index reads: the title twice (a title match says more than a body one),
        the tags and topic, then the body."""
        return "\n".join((self.title, self.title, " ".join(self.tags), self.topic, self.body))


def article(article_id: str, given: ArticleIn, *, at: float, by: str) -> Article:
    if not ARTICLE_ID.match(article_id):
        raise ValueError("an article id is 1-80 lower-case letters, digits, _ or -, "
                         "starting with a letter or digit")
    return Article(id=article_id, title=given.title.strip(), body=given.body,
                   locale=given.locale, status=given.status, audience=given.audience,
                   topic=given.topic, tags=tuple(dict.fromkeys(given.tags)), updated_at=at, updated_by=by)


class ArticleTerms(msgspec.Struct, frozen=True):
    """An article's index terms, analysed when it was written, so that a gateway's start reads
    them instead of segmenting every body again. They stand for the article while `version`
    is the analyser's and `digest` that of the text analysed (else they are analysed again)."""

    version: int
    digest: str
    # space-separated, as in `Solved`: one string decodes ~15 times faster than a list of
    # 1,000 strings, and the split happens in the build's thread, not on the event loop
    terms: str


class FaqCounts(msgspec.Struct, frozen=True):
    """How the web-chat FAQ used an article."""

    shown: int = 0
    solved: int = 0
    unsolved: int = 0


class Solved(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A resolved ticket as suggestions use it: the index terms of the customer's question
    (matched, never returned; kept analysed so that a gateway rebuilds its index without
    segmenting 200,000 texts again), and what an agent may be shown — the subject and the reply that resolved it,
    with the name, phone numbers and emails masked. `skill` and `assignee` decide who may see
    it (the same rule as the ticket itself)."""

    ticket_id: str
    terms: str                          # the question's index terms, space-separated
    subject: str = ""
    reply: str
    language: str = ""
    skill: str = ""
    assignee: str = ""
    resolved_at: float = 0.0
