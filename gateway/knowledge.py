"""The knowledge service of one gateway process: in-memory indexes (triage/retrieval.py) of the
articles and of the newest resolved tickets, built from Redis at start and kept current by a
follower task, and the three uses of them — article search, a ticket's suggestions, the
web-chat FAQ.

Nothing is segmented at start: an article's terms are analysed when it is written (the PUT,
the import; `analysed`) and stored beside it, a resolved ticket's in its record, so the build
only reads terms and fills the matrices. Terms of another analyser version, or of an older
text, are analysed again (in a thread, each bounded by MAX_DOC_CHARS) and stored back.

The follower, every `knowledge.refresh_ms`: turns new resolves on the audit stream into
{p}kb:solved records (queue/articles.py Solutions; any number of gateways may run it), adds
new records to the ticket index, and re-reads the articles named on {p}articles:log. The first
build runs in a thread on a fresh index, swapped in when done, so the event loop keeps serving
(suggestions are empty until then; `ready` says so)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis
from aiohttp import web
from redis.exceptions import RedisError

from deskgate.gateway.appkeys import CONFIG, KEYS, REDIS
from deskgate.models.article import Article, ArticleTerms, Solved
from deskgate.models.scope import Scope
from deskgate.models.ticket import Ticket
from deskgate.queue.articles import ArticleStore, Solutions
from deskgate.queue.connection import raise_if_cancelled
from deskgate.queue.keys import Keys
from deskgate.queue.outbox import Outbox
from deskgate.queue.tickets import TicketStore
from deskgate.triage.entities import EntityExtractor
from deskgate.triage.retrieval import (
    ANALYSER_VERSION,
    MAX_DOC_CHARS,
    Index,
    Query,
    Why,
    snippet,
    terms,
)

log = logging.getLogger("deskgate.knowledge")

QUESTION_CHARS = 2000        # of the customer's words a ticket is matched by
REPLY_CHARS = 4000           # of the resolving reply shown in a suggestion
STOP_SECONDS = 10            # shutdown waits this long for the follower
_MASKED = {"PHONE": "[phone]", "EMAIL": "[email]"}
_extractor = EntityExtractor()


def mask(text: str, names: Sequence[str] = ()) -> str:
    """Phone numbers, email addresses and the customer's `names` replaced by a placeholder: a
    suggestion shows another customer's case, never who they are or how to reach them."""
    for name in names:
        if len(name.strip()) >= 2:
            text = text.replace(name.strip(), "[customer]")
    out, last = [], 0
    for e in _extractor.extract(text):
        if e.label in _MASKED:
            out += [text[last:e.start], _MASKED[e.label]]
            last = e.end
    out.append(text[last:])
    # an address the entity patterns did not take (no TLD they know) still goes
    return re.sub(r"[\w.+-]+@[\w-]+(\.[\w-]+)+", "[email]", "".join(out))


def _digest(a: Article) -> str:
    return hashlib.blake2b(a.search_text()[:MAX_DOC_CHARS].encode(), digest_size=12).hexdigest()


def analysed(a: Article) -> ArticleTerms:
    """The article's index terms, as stored beside it (a few ms of CPU: run it off the loop)."""
    return ArticleTerms(ANALYSER_VERSION, _digest(a), " ".join(terms(a.search_text())))


def current_terms(a: Article, stored: ArticleTerms | None) -> list[str] | None:
    """The stored terms when they are the current analyser's, of the article's current text."""
    if stored is None or stored.version != ANALYSER_VERSION or stored.digest != _digest(a):
        return None
    return stored.terms.split()


@dataclass(frozen=True, slots=True)
class Place:
    """What the ticket index keeps in memory per resolved ticket (the texts stay in Redis)."""

    entry: str               # its {p}kb:solved stream id
    skill: str
    assignee: str
    language: str


@dataclass(frozen=True)
class Found:
    key: str
    score: float
    why: Why


class Knowledge:
    def __init__(self, client: aioredis.Redis, keys: Keys, *, max_tickets: int) -> None:
        self._r = client
        self._k = keys
        self.articles = ArticleStore(client, keys)
        self.solutions = Solutions(client, keys, keep=max_tickets)
        self.max_tickets = max_tickets
        self.article_index = Index()
        self.ticket_index = Index(max_docs=max_tickets)
        self.by_id: dict[str, Article] = {}
        self.places: dict[str, Place] = {}
        self._articles_pos = "0-0"
        self._solved_pos = "-"
        self.ready = False
        self._lock = asyncio.Lock()

    # --- building and following --------------------------------------------------------
    async def build(self) -> None:
        """Everything from Redis, indexed off the event loop, then swapped in."""
        t0 = time.monotonic()
        pos = await self.articles.log_position()
        articles = await self.articles.all()
        a = Index()
        stale = await asyncio.to_thread(index_articles, a, articles, await self.articles.terms())
        for n in range(0, len(stale), 500):
            await self.articles.save_terms(dict(stale[n:n + 500]))
        # chunk by chunk, so that only one chunk of records is in memory at a time
        t = Index(max_docs=self.max_tickets)
        places: dict[str, Place] = {}
        after = "-"
        while True:
            chunk = await self.solutions.read(after, 5000)
            if not chunk:
                break
            await asyncio.to_thread(_add_records, t, chunk)
            places.update((s.ticket_id, Place(eid, s.skill, s.assignee, s.language))
                          for eid, s in chunk)
            after = chunk[-1][0]
        self.article_index, self.ticket_index = a, t
        self.by_id = {x.id: x for x in articles}
        self.places = {k: p for k, p in places.items() if k in t}
        self._articles_pos = pos
        self._solved_pos = after
        self.ready = True
        log.info("knowledge index ready: %d articles (%d analysed again), %d resolved tickets "
                 "in %.1f s", len(articles), len(stale), len(self.places),
                 time.monotonic() - t0)

    async def refresh(self) -> None:
        """One follow step: new resolves into records, new records and article changes into
        the indexes. Does nothing before the first build is done (the build reads them)."""
        async with self._lock:
            if self.ready:
                await self._follow()

    async def _follow(self) -> None:
        store = TicketStore(self._r, self._k)
        outbox = Outbox(self._r, self._k)

        async def record(ticket_id: str, at: float) -> Solved | None:
            return await solved_record(store, outbox, ticket_id, at)

        while await self.solutions.step(record):
            pass
        while True:
            chunk = await self.solutions.read(self._solved_pos, 1000)
            if not chunk:
                break
            for eid, s in chunk:
                self.add_solved(eid, s)
            self._solved_pos = chunk[-1][0]
        while True:
            ids, pos, trimmed = await self.articles.changes(self._articles_pos)
            if trimmed:
                log.warning("the article log was trimmed past this gateway's position; "
                            "rebuilding the knowledge index")
                self.ready = False
                return
            if not ids:
                break
            unique = list(dict.fromkeys(ids))
            found = await self.articles.get_many(unique)
            stored = await self.articles.terms(unique)
            for aid in unique:
                if aid in found:
                    given = current_terms(found[aid], stored.get(aid))
                    if given is None:
                        # one article at a time: each holds the GIL for a bounded few ms
                        fresh = await asyncio.to_thread(analysed, found[aid])
                        await self.articles.save_terms({aid: fresh})
                        given = fresh.terms.split()
                    self.by_id[aid] = found[aid]
                    self.article_index.add_terms(aid, given)
                else:
                    self.by_id.pop(aid, None)
                    self.article_index.remove(aid)
            self._articles_pos = pos

    def add_solved(self, entry: str, s: Solved) -> None:
        self.ticket_index.add_terms(s.ticket_id, s.terms.split())
        # re-inserted, so that places stay in the index's order (oldest first) and the ones
        # the index's bound dropped are at the front
        self.places.pop(s.ticket_id, None)
        self.places[s.ticket_id] = Place(entry, s.skill, s.assignee, s.language)
        while len(self.places) > len(self.ticket_index):
            oldest = next(iter(self.places))
            if oldest in self.ticket_index:
                break
            del self.places[oldest]

    async def run(self, period: float, stop: asyncio.Event) -> None:
        """Build, then follow until `stop` is set (or the task is cancelled)."""
        while not stop.is_set():
            try:
                if not self.ready:
                    await self.build()
                await self.refresh()
            except (RedisError, OSError) as exc:
                raise_if_cancelled(exc)
                log.warning("knowledge index: Redis unavailable (%s); retrying", exc)
            except Exception as exc:
                raise_if_cancelled(exc)
                # a record or article that cannot be read must not end suggestions for good
                log.exception("knowledge index: the follow step failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), period)

    # --- uses ----------------------------------------------------------------------------
    def search_articles(self, query: Query, k: int,
                        visible: Callable[[Article], bool]) -> list[tuple[Article, Found]]:
        hits = self.article_index.search(
            query, k, accept=lambda key: key in self.by_id and visible(self.by_id[key]))
        return [(self.by_id[h.key], Found(h.key, h.score, self.article_index.explain(query, h.key)))
                for h in hits]

    def suggest_articles(self, query: Query, language: str, k: int = 5, *,
                         public_only: bool = False) -> list[tuple[Article, Found]]:
        """Published articles (`public_only`: only those for everyone, filtered inside the
        search so that k of them still come back), those in `language` first (then the others
        by score)."""
        def accept(key: str) -> bool:
            a = self.by_id.get(key)
            return a is not None and (a.public if public_only else a.published)
        hits = [(self.by_id[h.key], h) for h in self.article_index.search(query, k * 4, accept)]
        hits.sort(key=lambda ah: (ah[0].locale != language, -ah[1].score))
        return [(a, Found(h.key, h.score, self.article_index.explain(query, h.key)))
                for a, h in hits[:k]]

    def suggest_tickets(self, query: Query, scope: Scope, exclude: str,
                        k: int = 5) -> list[Found]:
        """Resolved tickets the caller could open (the same rule as the ticket itself)."""
        def visible(key: str) -> bool:
            p = self.places.get(key)
            return p is not None and scope.sees_ticket(p.skill, p.assignee)
        hits = self.ticket_index.search(query, k, accept=visible, exclude=(exclude,))
        return [Found(h.key, h.score, self.ticket_index.explain(query, h.key)) for h in hits]

    async def solved_texts(self, ticket_ids: Sequence[str]) -> dict[str, Solved]:
        out = {}
        for tid in ticket_ids:
            p = self.places.get(tid)
            if p is None:
                continue
            got = await self.solutions.read_one(p.entry)
            if got is not None:
                out[tid] = got
        return out


def index_articles(index: Index, articles: Sequence[Article],
                  stored: dict[str, ArticleTerms]) -> list[tuple[str, ArticleTerms]]:
    """Index the articles from their stored terms; returns those that had to be analysed."""
    stale = []
    for x in articles:
        given = current_terms(x, stored.get(x.id))
        if given is None:
            fresh = analysed(x)
            stale.append((x.id, fresh))
            given = fresh.terms.split()
        index.add_terms(x.id, given)
    index.flush()
    return stale


def _add_records(index: Index, chunk: Sequence[tuple[str, Solved]]) -> None:
    for _, s in chunk:
        index.add_terms(s.ticket_id, s.terms.split())
    index.flush()


def ticket_question(ticket: Ticket, texts: Sequence[str]) -> str:
    """What a ticket asks: its subject and its customer's messages, at most QUESTION_CHARS."""
    joined = "\n".join([ticket.subject, *texts]) if ticket.subject else "\n".join(texts)
    return joined[:QUESTION_CHARS]


async def solved_record(store: TicketStore, outbox: Outbox, ticket_id: str,
                        at: float) -> Solved | None:
    """A resolved ticket as suggestions use it; None when it was resolved without a reply of an
    agent (nothing to suggest) or is gone."""
    t = await store.get(ticket_id)
    if t is None:
        return None
    replies = [r.message for r in await outbox.thread(ticket_id)
               if r.message.author != "auto" and r.message.created_at.timestamp() <= at + 1]
    if not replies:
        return None
    messages = await store.messages(t)
    customer = await store.customer(t.customer_id)
    names = [customer.name] if customer and customer.name else []
    names += [m.sender.name for m in messages if m.sender.name]
    return Solved(ticket_id=ticket_id,
                  terms=" ".join(terms(ticket_question(t, [m.text for m in messages]))),
                  subject=mask(t.subject, names)[:200],
                  reply=mask(replies[-1].text[:REPLY_CHARS], names),
                  language=t.triage.language if t.triage else "",
                  skill=t.skill, assignee=t.assignee, resolved_at=at)


def snippet_json(text: str, query: str, width: int = 160) -> dict[str, object]:
    """A snippet as the API returns it: plain text and the [start, end) ranges to mark."""
    window, marks = snippet(text, query, width)
    return {"text": window, "marks": [list(m) for m in marks]}


KNOWLEDGE = web.AppKey("knowledge", Knowledge)


def setup(app: web.Application) -> None:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        cfg = app[CONFIG].knowledge
        kb = app[KNOWLEDGE] = Knowledge(app[REDIS], app[KEYS], max_tickets=cfg.max_tickets)
        stop = asyncio.Event()
        task = asyncio.create_task(kb.run(cfg.refresh_ms / 1000, stop))
        yield
        # the flag ends the loop at its next turn even if a Redis call in flight swallowed
        # the cancellation
        stop.set()
        task.cancel()
        # bounded: shutdown must not hang on a Redis call that never answers
        done, _ = await asyncio.wait({task}, timeout=STOP_SECONDS)
        if not done:
            log.error("the knowledge follower did not stop within %d s; leaving it",
                      STOP_SECONDS)
        elif not task.cancelled() and task.exception() is not None:
            log.error("the knowledge follower failed: %r", task.exception())

    app.cleanup_ctx.append(ctx)     # after the Redis context, which create_app adds first
