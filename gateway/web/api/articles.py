"""Knowledge-base articles over the REST API: admins write them; managers read every article,
agents the published ones. Search answers with highlighted snippets as plain text plus the
[start, end) ranges to mark, never markup built from an article."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from deskgate.gateway.knowledge import KNOWLEDGE, Found, analysed, snippet_json
from deskgate.gateway.web.auth import requires
from deskgate.gateway.web.body import decode_body
from deskgate.gateway.web.errors import ApiError
from deskgate.gateway.web.scope import ADMIN, FILTERED, scope
from deskgate.models.article import ARTICLE_ID, Article, ArticleIn, ArticleStatus, Locale, article
from deskgate.models.codec import to_builtins
from deskgate.models.enums import Role
from deskgate.triage.retrieval import analyze, highlight

MAX_ARTICLE_BYTES = 160 * 1024     # the body's 64 Ki characters as UTF-8, and the rest
MAX_Q = 500
MAX_LIMIT = 100
MAX_HITS = 20          # searched articles per page: each gets a snippet cut from its opening


def _readable(request: web.Request) -> Any:
    """Agents read published articles; managers and admins every article."""
    if scope(request).role is Role.AGENT:
        return lambda a: a.published
    return lambda a: True


def _id(request: web.Request) -> str:
    article_id = request.match_info["article_id"]
    if not ARTICLE_ID.match(article_id):
        raise ApiError(400, "an article id is 1-80 lower-case letters, digits, _ or -",
                       field="article_id")
    return article_id


def _summary(a: Article) -> dict[str, Any]:
    out = to_builtins(a)
    out.pop("body", None)
    return out


def found_json(a: Article, f: Found, query: str) -> dict[str, Any]:
    return {**_summary(a), "score": f.score,
            "title_marks": [list(m) for m in highlight(a.title, query)],
            "snippet": snippet_json(a.body, query),
            "why": {"terms": list(f.why.terms), "entities": list(f.why.entities)}}


def _choice(request: web.Request, name: str, allowed: type[Locale] | type[ArticleStatus]) -> str:
    value = request.query.get(name, "")
    if value and value not in {x.value for x in allowed}:
        raise ApiError(400, f"{name} must be one of {', '.join(x.value for x in allowed)}",
                       field=name)
    return value


def _faq_stats(request: web.Request) -> bool:
    stats = request.query.get("stats", "")
    if stats not in ("", "faq"):
        raise ApiError(400, "stats can only be faq", field="stats")
    if stats and scope(request).role is Role.AGENT:
        raise ApiError(403, "the FAQ figures are for managers and admins", field="stats")
    return bool(stats)


async def _with_faq(request: web.Request, listed: list[dict[str, Any]],
                    wanted: bool) -> list[dict[str, Any]]:
    """The page's articles with their FAQ counts (one Redis read for the page) if wanted."""
    if wanted and listed:
        counts = await request.app[KNOWLEDGE].articles.faq_counts([a["id"] for a in listed])
        for a in listed:
            a["faq"] = to_builtins(counts[a["id"]])
    return listed


@requires(Role.AGENT, Role.MANAGER, Role.ADMIN, policy=FILTERED)
async def list_articles(request: web.Request) -> web.Response:
    """Articles (agents: published ones): q searches (best first, with marked snippets),
    else newest first; filter by locale, status, topic, tag; limit; stats=faq (managers and
    admins) adds each article's web-chat FAQ counts."""
    q = request.query.get("q", "").strip()
    with_faq = _faq_stats(request)
    if len(q) > MAX_Q:
        raise ApiError(400, f"q is at most {MAX_Q} characters", field="q")
    try:
        limit = min(MAX_LIMIT, max(1, int(request.query.get("limit", "50"))))
    except ValueError as exc:
        raise ApiError(400, "limit must be an integer", field="limit") from exc
    locale, status = _choice(request, "locale", Locale), _choice(request, "status", ArticleStatus)
    topic, tag = request.query.get("topic", ""), request.query.get("tag", "")
    readable = _readable(request)

    def wanted(a: Article) -> bool:
        return (readable(a) and (not locale or a.locale == locale)
                and (not status or a.status == status) and (not topic or a.topic == topic)
                and (not tag or tag in a.tags))

    kb = request.app[KNOWLEDGE]
    if q:
        hits = kb.search_articles(analyze(q), min(limit, MAX_HITS), wanted)
        found = [found_json(a, f, q) for a, f in hits]
        return web.json_response({"articles": await _with_faq(request, found, with_faq),
                                  "q": q, "ready": kb.ready})
    # the gateway's copy is current within knowledge.refresh_ms (and at once after its own
    # writes); Redis only until the first build is done
    every = [a for a in (kb.by_id.values() if kb.ready else await kb.articles.all())
             if wanted(a)]
    every.sort(key=lambda a: (-a.updated_at, a.id))
    page = [_summary(a) for a in every[:limit]]
    return web.json_response({"articles": await _with_faq(request, page, with_faq),
                              "total": len(every)})


@requires(Role.AGENT, Role.MANAGER, Role.ADMIN, policy=FILTERED)
async def get_article(request: web.Request) -> web.Response:
    """One article with its Markdown body (agents: published only) and, for managers and
    admins, how the web-chat FAQ used it."""
    article_id = _id(request)
    kb = request.app[KNOWLEDGE]
    found = await kb.articles.get(article_id)
    if found is None or not _readable(request)(found):
        raise ApiError(404, f"no article {article_id!r}")
    out = to_builtins(found)
    if scope(request).role is not Role.AGENT:
        out["faq"] = to_builtins((await kb.articles.faq_counts([article_id]))[article_id])
    return web.json_response(out)


@requires(Role.ADMIN, policy=ADMIN)
async def put_article(request: web.Request) -> web.Response:
    """Create or replace an article: title, body (Markdown), locale zh|en, status
    draft|published, topic, tags."""
    article_id = _id(request)
    given: ArticleIn = decode_body(await request.read(), ArticleIn, max_bytes=MAX_ARTICLE_BYTES)
    a = article(article_id, given, at=time.time(), by=scope(request).actor)
    kb = request.app[KNOWLEDGE]
    # bounded (MAX_DOC_CHARS), yet milliseconds of segmenting: not on the event loop
    if not await kb.articles.put(a, await asyncio.to_thread(analysed, a)):
        raise ApiError(409, "the knowledge base is full: delete articles first")
    await kb.refresh()          # this gateway's search sees it at once; others within refresh_ms
    return web.json_response(to_builtins(a))


@requires(Role.ADMIN, policy=ADMIN)
async def delete_article(request: web.Request) -> web.Response:
    """Delete an article."""
    article_id = _id(request)
    kb = request.app[KNOWLEDGE]
    if not await kb.articles.delete(article_id):
        raise ApiError(404, f"no article {article_id!r}")
    await kb.refresh()
    return web.json_response({"deleted": article_id})
