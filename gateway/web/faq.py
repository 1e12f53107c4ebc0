"""Answers from the knowledge base inside the web-chat widget, before a ticket is opened.
Public (the visitor has not signed in), so: only published articles whose audience is
`public` (never an agents-only one, even as the best match), their id, title, a plain-text
snippet and score, and on request one article's title and Markdown body; the account
must be a configured web-chat account (else 404); called from the visitor's browser, so, like
the widget's other calls, only from the account's allowed_origins (CORS for exactly those, 403
for any other Origin or none); questions, reads and feedback are limited per client address
(`knowledge.faq_per_minute`, 429 with Retry-After past it).

    GET  /webchat/{account}/faq?q=<what the visitor typed>&lang=zh|en
         -> {"articles": [{"id", "title", "snippet", "score"}]}   (the top 3)
    GET  /webchat/{account}/faq/{article_id}  -> {"id", "title", "body"}
    POST /webchat/{account}/faq/feedback  {"article_id": "...", "solved": true|false} -> 204

Each article answered counts as shown; feedback counts as solved or unsolved, per article
(managers read the counts on the article: GET /api/v1/articles/{id})."""

from __future__ import annotations

import msgspec
from aiohttp import web

from deskgate.connectors.webchat import WebSettings
from deskgate.gateway.appkeys import CONFIG
from deskgate.gateway.knowledge import KNOWLEDGE
from deskgate.gateway.web.body import decode_body
from deskgate.gateway.web.client_address import client_address
from deskgate.gateway.web.errors import ApiError
from deskgate.gateway.web.webchat_visitor import widget_call
from deskgate.models.article import ARTICLE_ID, Article
from deskgate.queue.sessions import login_source
from deskgate.triage.retrieval import analyze, snippet

MAX_Q = 500
SHOWN = 3
MAX_FEEDBACK_BYTES = 1024
WINDOW = 60


class FeedbackIn(msgspec.Struct, forbid_unknown_fields=True):
    article_id: str
    solved: bool


async def _admit(request: web.Request) -> None:
    kb = request.app[KNOWLEDGE]
    wait = await kb.articles.take_faq_slot(login_source(client_address(request)),
                                           request.app[CONFIG].knowledge.faq_per_minute, WINDOW)
    if wait:
        raise ApiError(429, f"too many questions from this address: try again in {wait} s",
                       headers={"Retry-After": str(wait)})


async def _public(request: web.Request, article_id: str) -> Article:
    if not ARTICLE_ID.match(article_id):
        raise ApiError(422, "article_id is not an article id", field="article_id")
    await _admit(request)
    found = await request.app[KNOWLEDGE].articles.get(article_id)
    # an agents-only article is answered exactly like a missing one: its id tells nothing
    if found is None or not found.public:
        raise ApiError(404, f"no published article {article_id!r}", field="article_id")
    return found


# the account is checked and its origin answered by widget_call; settings are not needed here
async def _answer(request: web.Request, _settings: WebSettings, _account: str) -> web.Response:
    q = request.query.get("q", "").strip()
    lang = request.query.get("lang", "zh")
    if not q:
        raise ApiError(400, "q (what the visitor typed) is required", field="q")
    if len(q) > MAX_Q:
        raise ApiError(400, f"q is at most {MAX_Q} characters", field="q")
    if lang not in ("zh", "en"):
        raise ApiError(400, "lang must be zh or en", field="lang")
    await _admit(request)
    kb = request.app[KNOWLEDGE]
    # the articles themselves, taken with the search: one deleted while the count below is
    # awaited is still answered from this copy, never looked up again
    found = kb.suggest_articles(analyze(q), lang, SHOWN, public_only=True)
    await kb.articles.count_faq({a.id: "shown" for a, _ in found})
    return web.json_response({"articles": [
        {"id": a.id, "title": a.title, "snippet": snippet(a.body, q)[0], "score": f.score}
        for a, f in found]})


async def _read(request: web.Request, _settings: WebSettings, _account: str) -> web.Response:
    found = await _public(request, request.match_info["article_id"])
    return web.json_response({"id": found.id, "title": found.title, "body": found.body})


async def _feedback(request: web.Request, _settings: WebSettings, _account: str) -> web.Response:
    body: FeedbackIn = decode_body(await request.read(), FeedbackIn,
                                   max_bytes=MAX_FEEDBACK_BYTES)
    found = await _public(request, body.article_id)
    await request.app[KNOWLEDGE].articles.count_faq(
        {found.id: "solved" if body.solved else "unsolved"})
    return web.Response(status=204)


answer = widget_call(_answer)
article = widget_call(_read)
feedback = widget_call(_feedback)
