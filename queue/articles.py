"""The knowledge base in Redis: articles, their change log, the web-chat FAQ counters, and the
resolved tickets that suggestions draw on.

Articles live in one hash ({p}articles, id -> JSON), their index terms in another
({p}articles:terms, written in the same MULTI: a gateway indexes them without analysing the
text). Every write or delete also appends the article id to {p}articles:log in the same MULTI,
so each gateway's in-memory index follows the log (re-reading the article) and cannot miss a
change.

Resolved tickets reach suggestions through {p}kb:solved, a stream of `Solved` records capped at
the newest N: `Solutions.step` reads the audit stream from its own position ({p}kb:pos), turns
each resolve into a record (the customer's question, the reply that resolved it) and appends
them with the new position in one script that first checks the position (lua/kb_append.lua),
so two gateways running the step at once cannot both append a batch (the second is refused
and reads again) and a crash between the read and the write appends nothing. Every gateway
rebuilds its index from the stream at start and then follows it."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence

import msgspec
import redis.asyncio as aioredis

from deskgate.models.article import Article, ArticleTerms, FaqCounts, Solved
from deskgate.queue.keys import Keys
from deskgate.queue.replies import stream_entries
from deskgate.queue.replies import text as _s
from deskgate.queue.scripts import lua
from deskgate.queue.sessions import take_slot

MAX_ARTICLES = 20_000
LOG_LEN = 50_000                   # article changes kept; a gateway further behind reloads all
FAQ_FIELDS = ("shown", "solved", "unsolved")

_article = msgspec.json.Decoder(Article)
_solved = msgspec.json.Decoder(Solved)
_terms = msgspec.json.Decoder(ArticleTerms)
_enc = msgspec.json.Encoder()


class ArticleStore:
    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self._r = client
        self._k = keys

    async def put(self, a: Article, terms: ArticleTerms) -> bool:
        """Create or replace, with the article's index terms; False when the store is full and
        this would be a new one."""
        if (not await self._r.hexists(self._k.articles, a.id)
                and await self._r.hlen(self._k.articles) >= MAX_ARTICLES):
            return False
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hset(self._k.articles, a.id, _enc.encode(a))
            pipe.hset(self._k.articles_terms, a.id, _enc.encode(terms))
            pipe.xadd(self._k.articles_log, {"a": a.id}, maxlen=LOG_LEN, approximate=True)
            await pipe.execute()
        return True

    async def get(self, article_id: str) -> Article | None:
        raw = await self._r.hget(self._k.articles, article_id)
        return _article.decode(raw) if raw else None

    async def get_many(self, ids: Sequence[str]) -> dict[str, Article]:
        if not ids:
            return {}
        raws = await self._r.hmget(self._k.articles, list(ids))
        return {i: _article.decode(r) for i, r in zip(ids, raws, strict=True) if r}

    async def delete(self, article_id: str) -> bool:
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hdel(self._k.articles, article_id)
            pipe.hdel(self._k.articles_terms, article_id)
            pipe.xadd(self._k.articles_log, {"a": article_id}, maxlen=LOG_LEN, approximate=True)
            deleted, _, _ = await pipe.execute()
        return bool(deleted)

    async def all(self) -> list[Article]:
        out = []
        async for _, raw in self._r.hscan_iter(self._k.articles, count=1000):
            out.append(_article.decode(raw))
        return sorted(out, key=lambda a: a.id)

    async def terms(self, ids: Sequence[str] | None = None) -> dict[str, ArticleTerms]:
        """The stored index terms of `ids` (None: of every article); a record that does not
        decode (written by another version) is left out, as if missing."""
        if ids is None:
            raws = [(_s(k), v) async for k, v in self._r.hscan_iter(self._k.articles_terms,
                                                                    count=1000)]
        elif ids:
            raws = list(zip(ids, await self._r.hmget(self._k.articles_terms, list(ids)),
                            strict=True))
        else:
            raws = []
        out = {}
        for article_id, raw in raws:
            if raw:
                with contextlib.suppress(msgspec.DecodeError, msgspec.ValidationError):
                    out[article_id] = _terms.decode(raw)
        return out

    async def save_terms(self, terms: dict[str, ArticleTerms]) -> None:
        """Store terms analysed again (the analyser changed). Not atomic with the article: the
        digest tells terms of an older text from current ones, so a race costs one analysis."""
        if terms:
            await self._r.hset(self._k.articles_terms,
                               mapping={k: _enc.encode(v) for k, v in terms.items()})

    async def log_position(self) -> str:
        """The newest change's id ("0-0" when there is none): where a full load is as of."""
        last = await self._r.xrevrange(self._k.articles_log, count=1)
        return _s(last[0][0]) if last else "0-0"

    async def changes(self, after: str, count: int = 500) -> tuple[list[str], str, bool]:
        """Article ids changed after the log entry `after`, the new position, and whether the
        log was trimmed past `after` (then only a full reload is right)."""
        entries = stream_entries(await self._r.xrange(self._k.articles_log,
                                                      min=f"({after}", count=count))
        if not entries:
            return [], after, False
        first = stream_entries(await self._r.xrange(self._k.articles_log, count=1))
        trimmed = after != "0-0" and bool(first) and _older(after, first[0][0])
        return [_s(f.get(b"a")) for _, f in entries], entries[-1][0], trimmed

    # --- the web-chat FAQ ---------------------------------------------------------------
    async def count_faq(self, counts: dict[str, str]) -> None:
        """Add one to each article's field ("shown", "solved" or "unsolved")."""
        async with self._r.pipeline(transaction=False) as pipe:
            for article_id, field in counts.items():
                pipe.hincrby(self._k.articles_faq, f"{article_id}:{field}", 1)
            await pipe.execute()

    async def faq_counts(self, ids: Sequence[str]) -> dict[str, FaqCounts]:
        if not ids:
            return {}
        fields = [f"{i}:{f}" for i in ids for f in FAQ_FIELDS]
        vals = await self._r.hmget(self._k.articles_faq, fields)
        out = {}
        for n, i in enumerate(ids):
            got = vals[n * 3:(n + 1) * 3]
            out[i] = FaqCounts(*(int(v or 0) for v in got))
        return out

    async def take_faq_slot(self, source: str, limit: int, window: int) -> int:
        """0 when `source` may ask now, else the seconds until it may."""
        return await take_slot(self._r, self._k.faq_attempts(source), limit, window)


def _older(a: str, b: bytes | str) -> bool:
    """Stream id `a` comes before `b`."""
    x, y = a.split("-"), _s(b).split("-")
    return (int(x[0]), int(x[1])) < (int(y[0]), int(y[1]))


Builder = Callable[[str, float], Awaitable[Solved | None]]


class Solutions:
    """The resolved tickets suggestions draw on ({p}kb:solved), fed from the audit stream."""

    def __init__(self, client: aioredis.Redis, keys: Keys, *, keep: int) -> None:
        self._r = client
        self._k = keys
        self.keep = keep
        self._append = client.register_script(lua("kb_append"))

    async def step(self, build: Builder, batch: int = 500) -> int:
        """Turn the resolves among the next `batch` audit entries into records; returns the
        number of audit entries consumed (0: caught up, or another process took this batch)."""
        pos = _s(await self._r.get(self._k.kb_pos))
        entries = stream_entries(await self._r.xrange(self._k.audit, min=f"({pos or '0-0'}",
                                                      count=batch))
        if not entries:
            return 0
        records = []
        for _, f in entries:
            if f.get(b"action") == b"resolve" and f.get(b"ticket"):
                found = await build(_s(f[b"ticket"]), float(_s(f.get(b"ts")) or time.time()))
                if found is not None:
                    records.append(_enc.encode(found))
        done = await self._append(keys=[self._k.kb_pos, self._k.kb_solved],
                                  args=[pos, entries[-1][0], self.keep, *records])
        return len(entries) if int(done) else 0

    async def read(self, after: str = "-", count: int = 2000) -> list[tuple[str, Solved]]:
        """Records after the stream id `after` ("-": from the oldest kept), oldest first."""
        start = after if after == "-" else f"({after}"
        return [(eid, _solved.decode(f[b"s"]))
                for eid, f in stream_entries(await self._r.xrange(self._k.kb_solved, min=start,
                                                                  count=count)) if b"s" in f]

    async def read_one(self, entry: str) -> Solved | None:
        """The record at stream id `entry` (None once trimmed away)."""
        found = stream_entries(await self._r.xrange(self._k.kb_solved, min=entry, max=entry))
        return _solved.decode(found[0][1][b"s"]) if found and b"s" in found[0][1] else None
